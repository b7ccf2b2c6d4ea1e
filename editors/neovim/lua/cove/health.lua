--- :checkhealth cove
local config = require('cove.config')

local M = {}

function M.check()
  local health = vim.health
  health.start('cove: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed', { 'Upgrade Neovim.' })
  end
  if require('cove.ghost').native() then
    health.ok('ghost text: Neovim\'s vim.lsp.inline_completion (0.12+)')
  else
    health.ok('ghost text: Cove\'s extmark renderer (Neovim 0.11)')
  end

  health.start('cove: server')
  local lsp_config = vim.lsp.config[config.values.name]
  local cmd = lsp_config and lsp_config.cmd
  if type(cmd) ~= 'table' then
    health.warn('no vim.lsp config named "' .. config.values.name .. '" with a command', {
      'Put this plugin on the runtimepath (it ships lsp/cove.lua), or vim.lsp.config("cove", { cmd = { ... } }).',
    })
  elseif vim.fn.executable(cmd[1]) == 1 then
    health.ok(('command: %s (%s)'):format(table.concat(cmd, ' '), vim.fn.exepath(cmd[1])))
  else
    health.error(('"%s" is not executable'):format(cmd[1]), {
      'Install Cove from a checkout (pipx install . there) or point the command at it:',
      'vim.lsp.config("cove", { cmd = { "/path/to/venv/bin/cove", "serve" } })',
    })
  end
  if vim.lsp.is_enabled and not vim.lsp.is_enabled(config.values.name) then
    health.warn('the config is not enabled', { 'Add vim.lsp.enable("cove") to your init.lua.' })
  end

  local clients = vim.lsp.get_clients({ name = config.values.name })
  if #clients == 0 then
    health.info('no Cove server is running (open a file to start one)')
    return
  end
  for _, client in ipairs(clients) do
    local reply = client:request_sync('workspace/executeCommand', { command = 'cove.status' }, 3000)
    local status = reply and reply.result
    if type(status) ~= 'table' then
      health.warn(('client %d: no answer to cove.status'):format(client.id), { 'See :LspLog.' })
    elseif status.state == 'ready' then
      health.ok(('client %d: ready, model %s, template %s'):format(client.id, status.model or '?', status.template or '?'))
    elseif status.state == 'error' then
      health.error(('client %d: %s'):format(client.id, status.message or 'error'), { 'See :LspLog; run `cove doctor`.' })
    else
      health.info(('client %d: %s %s'):format(client.id, status.state, status.message or ''))
    end
    local caps = client.server_capabilities or {}
    if caps.inlineCompletionProvider then
      health.ok('the server offers inline completion (ghost text)')
    else
      health.warn('the server does not offer inline completion', { 'Check features.inlineCompletion in init_options.' })
    end
  end
end

return M
