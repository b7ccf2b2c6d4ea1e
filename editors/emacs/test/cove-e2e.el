;;; cove-e2e.el --- Emacs + Eglot against the real `cove serve'  -*- lexical-binding: t; -*-

;; COVE_SERVER=/path/to/cove emacs -q --batch -L editors/emacs -l editors/emacs/test/cove-e2e.el
;;
;; The completion menu entry (completion-at-point), a code action, and
;; `cove-commit-message'.  Exit 0: passed; 1: a step failed; 3: hard timeout.

;;; Code:

(require 'cl-lib)
(require 'python)
(require 'cove)

(defvar cove-e2e--started (float-time))
(defvar cove-e2e--passed 0)

(setq jsonrpc-default-request-timeout 120          ; a cold completion takes seconds
      eglot-confirm-server-initiated-edits nil
      eglot-sync-connect 60
      eglot-autoshutdown t
      cove-command (list (or (getenv "COVE_SERVER") "cove") "serve")
      cove-initialization-options '(:generation (:maxTokens 48 :deadlineMs 60000)))
(cove-eglot-setup)

(run-at-time (string-to-number (or (getenv "COVE_TEST_TIMEOUT_S") "400")) nil
             (lambda ()
               (princ "cove emacs e2e: hard timeout\n" #'external-debugging-output)
               (kill-emacs 3)))

(defun cove-e2e--out (format-string &rest args)
  (princ (concat (apply #'format format-string args) "\n")))

(defmacro cove-e2e--step (name &rest body)
  "Run BODY as step NAME, printing its time."
  (declare (indent 1))
  `(let ((start (float-time)))
     ,@body
     (setq cove-e2e--passed (1+ cove-e2e--passed))
     (cove-e2e--out "ok - %s (%.1f s)" ,name (- (float-time) start))))

(defun cove-e2e--check (condition format-string &rest args)
  (unless condition (error "%s" (apply #'format format-string args))))

(defun cove-e2e--git (dir &rest args)
  (let ((default-directory dir))
    (cove-e2e--check (zerop (apply #'call-process "git" nil nil nil args)) "git %S failed" args)))

(defun cove-e2e--make-repository ()
  (let ((dir (file-name-as-directory (file-truename (make-temp-file "cove-emacs-" t)))))
    (cove-e2e--git dir "init" "-q" "-b" "main")
    (cove-e2e--git dir "config" "user.email" "dev@example.com")
    (cove-e2e--git dir "config" "user.name" "Dev")
    (cove-e2e--git dir "config" "commit.gpgsign" "false")
    (with-temp-file (expand-file-name "geometry.py" dir)
      (insert "import math\n\n\ndef rectangle_area(width, height):\n    return width * height\n\n\n"
              "def circle_area(radius):\n    \"\"\"Return the area of a circle.\"\"\"\n    return \n"))
    (cove-e2e--git dir "add" "geometry.py")
    (cove-e2e--git dir "commit" "-q" "-m" "Add circle and rectangle area helpers")
    (with-temp-file (expand-file-name "shapes.py" dir)
      (insert "def square_area(side):\n    \"\"\"Return the area of a square.\"\"\"\n    return side * side\n"))
    (cove-e2e--git dir "add" "shapes.py")
    dir))

(defun cove-e2e--wait-ready (server)
  "Poll cove.status until ready.  Short timeouts: a reply sent while the model loads
can be lost (see editors/README.md), and Eglot 1.9 asks for no $/progress."
  (let ((deadline (+ (float-time) 180)) state)
    (while (not (equal state "ready"))
      (cove-e2e--check (< (float-time) deadline) "the model did not load (state %S)" state)
      (setq state (condition-case nil
                      (plist-get (jsonrpc-request server :workspace/executeCommand
                                                  '(:command "cove.status") :timeout 3)
                                 :state)
                    (jsonrpc-error nil)))
      (unless (equal state "ready") (sleep-for 0.25)))))

(defun cove-e2e--main ()
  (let* ((dir (cove-e2e--make-repository)) server)
    (cove-e2e--step "start server + model ready"
      (find-file (expand-file-name "geometry.py" dir))
      (cove-e2e--check (eq major-mode 'python-mode) "python-mode, got %s" major-mode)
      (apply #'eglot (eglot--guess-contact))
      (setq server (eglot-current-server))
      (cove-e2e--check server "Eglot connected to Cove")
      (cove-e2e--wait-ready server))

    (cove-e2e--step "completion menu entry, inserted through completion-at-point"
      (goto-char (point-min))
      (forward-line 9)
      (end-of-line)
      (let* ((capf (eglot-completion-at-point))
             (candidates (all-completions "" (nth 2 capf)))
             (label (and candidates (substring-no-properties (car candidates))))
             (exit (plist-get (nthcdr 3 capf) :exit-function)))
        ;; Asked by hand: the suggestion, then up to 2 distinct alternatives.
        (cove-e2e--check (<= 1 (length candidates) 3) "one to three Cove items, got %S" candidates)
        (cove-e2e--check (string-match-p "radius" label) "a suggestion using the radius: %S" label)
        (cove-e2e--out "# menu item: %S" label)
        ;; What completion-at-point does on choosing the item.
        (insert label)
        (funcall exit (car candidates) 'finished)
        (let ((line (buffer-substring (line-beginning-position) (line-end-position))))
          (cove-e2e--check (string-prefix-p "    return " line) "line: %S" line)
          (cove-e2e--check (string-match-p "radius" line) "the suggestion is in the buffer: %S" line))))

    (cove-e2e--step "code action \"Cove: Write docstring\""
      (goto-char (point-min))
      (forward-line 3)
      (forward-char 4)
      (let* ((actions (eglot-code-actions (point) (point) "refactor.rewrite.cove.docstring" nil))
             (action (car actions)))
        (cove-e2e--check action "a docstring action, got %S" actions)
        (cove-e2e--check (or (plist-get action :edit) (plist-get action :command))
                         "the action carries an edit or a command (Eglot 1.9 cannot resolve): %S" action)
        (when (plist-get action :edit)
          (eglot--apply-workspace-edit (plist-get action :edit)))
        (when-let ((command (plist-get action :command)))
          (eglot-execute-command server (intern (plist-get command :command)) (plist-get command :arguments)))
        (goto-char (point-min))
        (forward-line 4)
        (cove-e2e--check (looking-at-p "[ \t]*\"\"\"") "a docstring under rectangle_area: %S"
                         (buffer-substring (point) (line-end-position)))))

    (cove-e2e--step "cove-commit-message in COMMIT_EDITMSG"
      (let ((file (expand-file-name ".git/COMMIT_EDITMSG" dir)))
        (with-temp-file file
          (insert "\n# Please enter the commit message for your changes.\n#\n# On branch main\n"))
        (find-file file)
        (cove-commit-message)
        (let ((first (buffer-substring (point-min) (save-excursion (goto-char (point-min)) (line-end-position)))))
          (cove-e2e--check (and (not (string-empty-p first)) (not (string-prefix-p "#" first)))
                           "a subject line: %S" first)
          (cove-e2e--check (search-forward "\n\n# Please enter" nil t) "git's comments kept below a blank line")
          (cove-e2e--out "# commit subject: %S" first))))))

(condition-case err
    (progn
      (cove-e2e--main)
      (cove-e2e--out "# cove emacs e2e total: %.1f s" (- (float-time) cove-e2e--started))
      (cove-e2e--out "cove emacs e2e: %d passed, 0 failed" cove-e2e--passed)
      (ignore-errors (eglot-shutdown (eglot-current-server)))
      (kill-emacs 0))
  (error
   (cove-e2e--out "cove emacs e2e: %d passed, 1 failed" cove-e2e--passed)
   (princ (format "cove emacs e2e: FAILED: %s\n" (error-message-string err)) #'external-debugging-output)
   (kill-emacs 1)))

;;; cove-e2e.el ends here
