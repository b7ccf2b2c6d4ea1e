--- Cove for Neovim: ghost text, commands and status for the `cove serve` language server.
---
---   vim.lsp.enable('cove')            -- lsp/cove.lua from this plugin
---   require('cove').setup({ ... })    -- optional: see lua/cove/config.lua
local config = require('cove.config')

local M = {}

--- Per-client state from $/progress and cove.status: { state, detail }.
---@type table<integer, { state: string, detail: string }>
M.status_by_client = {}

--- Apply options; safe to call more than once.
---@param opts? table see lua/cove/config.lua
function M.setup(opts)
  config.set(opts)
  for _, client in ipairs(vim.lsp.get_clients({ name = config.values.name })) do
    for bufnr in pairs(client.attached_buffers) do
      M.on_attach(client, bufnr)
    end
  end
end

--- Called on LspAttach for Cove's client: ghost text and its keys for this buffer, and
--- where its cursor rests (for the server's prefetch).
---@param client vim.lsp.Client
---@param bufnr integer
function M.on_attach(client, bufnr)
  require('cove.ghost').attach(client, bufnr)
  require('cove.cursor').attach(client, bufnr)
end

--- Which state a progress title stands for ("Cove: loading model", "Cove: indexing").
---@param title string?
---@return string?
local function state_of_title(title)
  if not title then
    return nil
  end
  if title:lower():find('index') then
    return 'indexing'
  end
  if title:lower():find('load') then
    return 'loading'
  end
end

local titles = {} ---@type table<string, string>

--- Follow one $/progress message (from the LspProgress autocmd).
---@param client_id integer
---@param params { token: string|integer, value: table }
function M.on_progress(client_id, params)
  local value = params.value or {}
  local key = client_id .. ':' .. tostring(params.token)
  if value.kind == 'begin' then
    titles[key] = value.title
  end
  local state = state_of_title(titles[key])
  if not state then
    return
  end
  if value.kind == 'end' then
    titles[key] = nil
    M.refresh_status(client_id)
    return
  end
  local detail = value.percentage and (value.percentage .. '%') or (value.message or '')
  M.status_by_client[client_id] = { state = state, detail = detail }
  vim.cmd.redrawstatus({ bang = true, mods = { emsg_silent = true } })
end

--- Ask the server where it stands (cove.status) and remember it.
---@param client_id integer
---@param on_done? fun(status: table?)
function M.refresh_status(client_id, on_done)
  local client = vim.lsp.get_client_by_id(client_id)
  if not client then
    return on_done and on_done(nil)
  end
  client:request('workspace/executeCommand', { command = 'cove.status' }, function(err, result)
    if not err and type(result) == 'table' then
      M.status_by_client[client_id] = { state = result.state, detail = result.message or '' }
    end
    if on_done then
      on_done(not err and result or nil)
    end
  end)
end

--- A short text for the statusline: "Cove", "Cove: loading model", "Cove: error", or "".
---@return string
function M.statusline()
  local client = vim.lsp.get_clients({ bufnr = 0, name = config.values.name })[1]
  if not client then
    return ''
  end
  local s = M.status_by_client[client.id]
  if not s or s.state == 'ready' then
    return s and 'Cove' or 'Cove: starting'
  end
  local label = s.state == 'loading' and 'loading model' or s.state
  return ('Cove: %s%s'):format(label, s.detail ~= '' and s.state ~= 'error' and (' ' .. s.detail) or '')
end

M.explain = function(opts)
  require('cove.commands').explain(opts)
end
M.docstring = function()
  require('cove.commands').docstring()
end
M.commit_message = function()
  require('cove.commands').commit_message()
end

return M
