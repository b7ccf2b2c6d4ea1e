--- What the per-buffer modules (ghost text, cursor reports) share: the window a buffer is
--- shown in, and the cleanup when Cove's client leaves a buffer. One copy, so the two
--- cannot drift apart (a group left behind would keep firing for a detached client).
local M = {}

local api = vim.api

--- The window showing `bufnr` (the current one when it does), nil when none shows it.
---@param bufnr integer
---@return integer? winid
function M.window_of(bufnr)
  if api.nvim_win_get_buf(0) == bufnr then
    return api.nvim_get_current_win()
  end
  local win = vim.fn.bufwinid(bufnr)
  return win ~= -1 and win or nil
end

--- When `client` detaches from `bufnr`: run `on_detach` (if given), then delete `group`,
--- the buffer's autocommands for that client (this one included).
---@param group integer
---@param client vim.lsp.Client
---@param bufnr integer
---@param on_detach? fun()
function M.clear_on_detach(group, client, bufnr, on_detach)
  api.nvim_create_autocmd('LspDetach', {
    group = group,
    buffer = bufnr,
    callback = function(args)
      if args.data.client_id == client.id then
        if on_detach then
          on_detach()
        end
        pcall(api.nvim_del_augroup_by_id, group)
      end
    end,
  })
end

return M
