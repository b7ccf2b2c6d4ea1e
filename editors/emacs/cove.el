;;; cove.el --- Cove, a private coding assistant, through Eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, languages, convenience

;;; Commentary:

;; Cove is a language server (`cove serve') that runs a local code model.  Eglot speaks
;; to it like any server: its suggestion arrives in the completion menu
;; (`completion-at-point', Company or Corfu), and Explain / Write docstring are code
;; actions (`eglot-code-actions').  Eglot has no ghost text (inline completion).
;;
;; This file only registers the server and adds three commands that pass the arguments
;; Cove's commands need; all the work happens in the server.
;;
;;   (require 'cove)
;;   (cove-eglot-setup)          ; then M-x eglot in a Python (or other) buffer
;;
;; Commands: `cove-explain' (region or line → *cove-explain*), `cove-docstring',
;; `cove-commit-message' (in a git commit message buffer), `cove-status'.

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'subr-x)

(defgroup cove nil
  "Cove, a private coding assistant, through Eglot."
  :group 'tools
  :prefix "cove-")

(defcustom cove-command '("cove" "serve")
  "How to start Cove's language server."
  :type '(repeat string))

(defcustom cove-major-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode java-mode java-ts-mode c-mode c-ts-mode
    c++-mode c++-ts-mode)
  "Major modes in which Eglot starts Cove.
Eglot runs one server per major mode: Cove replaces another server there."
  :type '(repeat symbol))

(defcustom cove-initialization-options nil
  "Cove's settings tree as a plist, the same keys as VS Code's cove.* settings.
Example: \\='(:generation (:maxTokens 64 :multiline \"never\"))."
  :type 'sexp)

;;;###autoload
(defun cove-eglot-setup ()
  "Make Eglot start Cove in `cove-major-modes'."
  (add-to-list 'eglot-server-programs
               `(,cove-major-modes . (,@cove-command
                                      :initializationOptions ,(or cove-initialization-options
                                                                  eglot--{})))))

(defun cove--server ()
  "The Eglot server of this buffer, or any running Cove server."
  (or (eglot-current-server)
      (cl-find-if (lambda (server) (equal (process-command (jsonrpc--process server))
                                          (mapcar #'identity cove-command)))
                  (cl-loop for servers being the hash-values of eglot--servers-by-project
                           append servers))
      (user-error "Cove is not running: M-x eglot in a source buffer first")))

(defun cove--execute (command &optional arguments)
  "Run Cove's COMMAND with ARGUMENTS (a list) and return its result."
  (jsonrpc-request (cove--server) :workspace/executeCommand
                   (if arguments
                       (list :command command :arguments (vconcat arguments))
                     (list :command command))
                   :timeout 120))

(defun cove-status ()
  "Show whether Cove's model is loaded."
  (interactive)
  (let ((status (cove--execute "cove.status")))
    (message "Cove: %s %s %s" (plist-get status :state) (plist-get status :model)
             (or (plist-get status :message) ""))
    status))

(defun cove-explain (beg end)
  "Explain the lines from BEG to END (the region, or the current line)."
  (interactive (if (use-region-p)
                   (list (region-beginning) (region-end))
                 (list (line-beginning-position) (line-end-position))))
  (let* ((range (list :start (eglot--pos-to-lsp-position beg)
                      :end (eglot--pos-to-lsp-position end)))
         (markdown (cove--execute "cove.explain"
                                  (list (list :uri (eglot--path-to-uri buffer-file-name) :range range))))
         (buffer (get-buffer-create "*cove-explain*")))
    (if (or (null markdown) (string-empty-p markdown))
        (message "Cove had no explanation for this code")
      (with-current-buffer buffer
        (let ((inhibit-read-only t))
          (erase-buffer)
          (insert markdown "\n")
          (if (fboundp 'markdown-mode) (markdown-mode) (text-mode))
          (setq buffer-read-only t)
          (goto-char (point-min))))
      (display-buffer buffer))
    markdown))

(defun cove-docstring ()
  "Write a docstring for the function or class at point (Cove edits the buffer)."
  (interactive)
  (let ((result (cove--execute "cove.writeDocstring"
                               (list (list :uri (eglot--path-to-uri buffer-file-name)
                                           :position (eglot--pos-to-lsp-position))))))
    (unless (eq (plist-get result :applied) t)
      (message "Cove wrote no docstring here: put point inside a function or class"))
    result))

(defun cove--repository ()
  "The work tree of the current buffer (a commit message buffer lives in .git/)."
  (let ((dir (file-name-directory (or buffer-file-name default-directory))))
    (if (equal (file-name-nondirectory (directory-file-name dir)) ".git")
        (file-name-directory (directory-file-name dir))
      (or (locate-dominating-file dir ".git")
          (user-error "Not in a git repository")))))

(defun cove-commit-message ()
  "Draft a commit message for the staged changes into this commit message buffer.
It goes above git's comment lines, replacing blank lines there."
  (interactive)
  (let* ((repo (directory-file-name (expand-file-name (cove--repository))))
         (message (cove--execute "cove.draftCommitMessage" (list (list :repo repo)))))
    (if (or (null message) (string-empty-p (string-trim message)))
        (message "Cove: nothing is staged")
      (save-excursion
        (goto-char (point-min))
        ;; Blank lines before git's comments make way for the message.
        (let ((start (point)))
          (skip-chars-forward " \t\n")
          (when (or (eobp) (eq (char-after) ?#))
            (delete-region start (point))))
        (insert (string-trim message) "\n"
                (if (eobp) "" "\n"))))
    message))

(provide 'cove)
;;; cove.el ends here
