--- Where the cursor rests, for the server's prefetch: `cove/cursor` on CursorHold and
--- CursorHoldI (the cursor still for 'updatetime'), and once when Cove attaches to a buffer
--- (a file just opened: its first suggestion is asked where the cursor already is). The
--- server evaluates that prompt while the model is idle; a real request drops the work.
--- A notification: nothing answers it.
local buffers = require('cove.buffers')

local M = {}

local api = vim.api

M.method = 'cove/cursor'

--- Send the cursor of the window showing `bufnr` (nothing when none shows it).
---@param client vim.lsp.Client
---@param bufnr integer
function M.send(client, bufnr)
  if client:is_stopped() or not api.nvim_buf_is_valid(bufnr) then
    return
  end
  local win = buffers.window_of(bufnr)
  if not win then
    return
  end
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  client:notify(M.method, { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = params.position })
end

--- Report the cursor of `bufnr` now and whenever it rests.
---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  local group = api.nvim_create_augroup('cove.cursor.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'CursorHold', 'CursorHoldI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.send(client, bufnr)
    end,
  })
  buffers.clear_on_detach(group, client, bufnr)
  M.send(client, bufnr)
end

return M
