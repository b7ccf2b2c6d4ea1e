-- Cove's language server for Neovim 0.11+ (`:h lsp-config`).
--
--   vim.lsp.enable('cove')
--
-- Override any field with vim.lsp.config('cove', { ... }), e.g. the command, the file
-- types, or the server settings (the same camelCase keys as VS Code's `cove.*`):
--
--   vim.lsp.config('cove', {
--     cmd = { '/path/to/venv/bin/cove', 'serve' },
--     init_options = { generation = { maxTokens = 96 }, features = { debounceMs = 50 } },
--   })

---@type vim.lsp.Config
return {
  cmd = { 'cove', 'serve' },
  -- No `filetypes`: Cove completes any text file. Turn languages off on the server side
  -- with init_options.features.disabledLanguages, or restrict with `filetypes` here.
  root_markers = { '.git' },
  -- Read once at start; send later changes with vim.lsp.config('cove', { settings = { cove = {...} } })
  -- and a restart, or from Lua: client:notify('workspace/didChangeConfiguration', { settings = { cove = {...} } }).
  init_options = {},
  capabilities = {
    textDocument = {
      -- Neovim 0.11 does not announce inline completion itself; the plugin renders it.
      inlineCompletion = { dynamicRegistration = false },
    },
    window = { workDoneProgress = true },
  },
}
