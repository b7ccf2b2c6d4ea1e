--- Cove's Neovim options: what the editor side does. Server settings (model, generation,
--- budgets, features) go to the server through vim.lsp.config('cove', { init_options = ... }).
local M = {}

---@class cove.Config
M.defaults = {
  --- Name of the vim.lsp config (lsp/cove.lua) whose clients this plugin serves.
  name = 'cove',
  ghost = {
    --- Show ghost text at all (Neovim 0.12+ uses vim.lsp.inline_completion instead of our extmarks).
    enabled = true,
    --- Ask for a suggestion after a pause in typing; false: only on the `trigger` key.
    auto_trigger = true,
    --- The pause, in milliseconds, before asking (0.11 extmark renderer).
    debounce_ms = 150,
    --- Highlight group of the ghost text (linked to Comment unless you define it).
    hl_group = 'CoveGhostText',
    --- File types that never get ghost text.
    exclude_filetypes = { 'gitcommit', 'gitrebase', 'help' },
    --- Use Neovim's own vim.lsp.inline_completion when it exists (0.12+).
    native = true,
  },
  --- Insert-mode keys; false turns one off. Each falls back to its normal meaning when no
  --- suggestion is shown.
  keymaps = {
    accept = '<Tab>',
    accept_line = '<M-l>',
    --- The next word: leading blanks and a run of word characters, or a run of punctuation.
    accept_word = '<M-Right>',
    --- The next / previous alternative (the first press asks the server for them).
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
  explain = {
    --- Where :CoveExplain shows its Markdown: 'vsplit', 'split' or 'float'.
    view = 'vsplit',
  },
  --- How long commands wait for the model to finish loading, in milliseconds.
  ready_timeout_ms = 120000,
}

---@type cove.Config
M.values = vim.deepcopy(M.defaults)

--- Merge user options over the defaults.
---@param opts? table
function M.set(opts)
  M.values = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  return M.values
end

return M
