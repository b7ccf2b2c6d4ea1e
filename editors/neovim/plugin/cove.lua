-- Cove: user commands and autocmds. The language server itself is enabled with
-- vim.lsp.enable('cove') (lsp/cove.lua in this plugin).
if vim.g.loaded_cove then
  return
end
vim.g.loaded_cove = true

if vim.fn.has('nvim-0.11') == 0 then
  vim.notify('Cove needs Neovim 0.11 or newer.', vim.log.levels.WARN)
  return
end

vim.api.nvim_set_hl(0, 'CoveGhostText', { link = 'Comment', default = true })

local group = vim.api.nvim_create_augroup('cove', { clear = true })

--- The client an LSP event (LspAttach, LspProgress) is about, when it is Cove's.
---@return vim.lsp.Client?
local function cove_client(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if client and client.name == require('cove.config').values.name then
    return client
  end
end

vim.api.nvim_create_autocmd('LspAttach', {
  group = group,
  desc = 'Cove: ghost text and keys for buffers the Cove server attaches to',
  callback = function(args)
    local client = cove_client(args)
    if client then
      require('cove').on_attach(client, args.buf)
    end
  end,
})

vim.api.nvim_create_autocmd('LspProgress', {
  group = group,
  desc = 'Cove: follow model loading and indexing',
  callback = function(args)
    local client = cove_client(args)
    if client then
      require('cove').on_progress(client.id, args.data.params)
    end
  end,
})

vim.api.nvim_create_user_command('CoveExplain', function(opts)
  require('cove.commands').explain(opts)
end, { range = true, desc = 'Cove: explain the selected lines (or the current line)' })

vim.api.nvim_create_user_command('CoveDocstring', function()
  require('cove.commands').docstring()
end, { desc = 'Cove: write a docstring for the function or class at the cursor' })

vim.api.nvim_create_user_command('CoveCommitMessage', function()
  require('cove.commands').commit_message()
end, { desc = 'Cove: draft a commit message from the staged changes into this commit buffer' })

vim.api.nvim_create_user_command('CoveStatus', function()
  local cove = require('cove')
  local clients = vim.lsp.get_clients({ name = require('cove.config').values.name })
  if #clients == 0 then
    vim.notify('Cove is not running (vim.lsp.enable("cove"), then open a file).', vim.log.levels.WARN)
    return
  end
  cove.refresh_status(clients[1].id, function(status)
    vim.notify(('Cove: %s %s %s'):format(
      status and status.state or 'no answer',
      status and status.model or '',
      status and status.message or ''
    ))
  end)
end, { desc = 'Cove: show whether the model is loaded' })
