--- Ghost text from textDocument/inlineCompletion.
---
--- Neovim 0.12+ has vim.lsp.inline_completion: we turn it on and map our keys to it.
--- On 0.11 this module renders the suggestion itself with extmarks: the first line as
--- inline virtual text at the cursor, the rest as virtual lines below. An explicit request
--- (the trigger key) gets the server's alternatives too; next/prev cycle through them.
local buffers = require('cove.buffers')
local config = require('cove.config')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('cove.ghost')

---@class cove.GhostItem
---@field client_id integer
---@field row integer 0-based row where the suggestion starts
---@field col integer byte column where the suggestion starts
---@field text string the text inserted at (row, col)
---@field end_row integer end of the replaced range (row, col when nothing is replaced)
---@field end_col integer
---@field command? lsp.Command run after a whole accept (cove.accepted)

---@class cove.GhostState
---@field item? cove.GhostItem the one on screen: items[index]
---@field items? cove.GhostItem[] all items of the last answer, most confident first
---@field index? integer
---@field explicit? boolean the items came from an explicit request (with the alternatives)
---@field shown? string the part of item.text that is on screen
---@field timer? uv.uv_timer_t
---@field request? { client_id: integer, id: integer }
---@field key? string changedtick and cursor of the last request

---@type table<integer, cove.GhostState>
local states = {}

--- Whether this Neovim has the built-in renderer (0.12+).
---@return boolean
function M.native()
  return config.values.ghost.native and vim.lsp.inline_completion ~= nil
    and vim.lsp.inline_completion.enable ~= nil
end

---@param bufnr integer
---@return cove.GhostState
local function state_of(bufnr)
  states[bufnr] = states[bufnr] or {}
  return states[bufnr]
end

---@param bufnr integer
---@return vim.lsp.Client?
local function client_of(bufnr)
  for _, client in ipairs(vim.lsp.get_clients({ bufnr = bufnr, name = config.values.name })) do
    if client.server_capabilities and client.server_capabilities.inlineCompletionProvider then
      return client
    end
  end
end

--- Byte column of an LSP position in this buffer.
---@param bufnr integer
---@param position lsp.Position
---@param encoding string
---@return integer
local function byte_col(bufnr, position, encoding)
  local line = api.nvim_buf_get_lines(bufnr, position.line, position.line + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, position.character, false)
  return ok and col or #line
end

local window_of = buffers.window_of

--- Is a suggestion on screen in this buffer?
---@param bufnr? integer
---@return boolean
function M.visible(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  return state_of(bufnr).shown ~= nil
end

--- Which item is on screen and how many the answer had (0, 0 when none), for statuslines and tests.
---@param bufnr? integer
---@return integer index, integer count
function M.position(bufnr)
  local state = state_of(bufnr or api.nvim_get_current_buf())
  return state.shown and state.index or 0, state.shown and #state.items or 0
end

--- The text on screen (nil when none), for statuslines and tests.
---@param bufnr? integer
---@return string?
function M.shown(bufnr)
  return state_of(bufnr or api.nvim_get_current_buf()).shown
end

local function clear_marks(bufnr)
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- Make `items` the suggestions, showing items[index] (wrapping around; nil: none).
---@param state cove.GhostState
---@param items? cove.GhostItem[]
---@param index? integer
local function set_items(state, items, index)
  if not items or #items == 0 then
    state.items, state.index, state.item, state.explicit = nil, nil, nil, nil
    return
  end
  state.items, state.index = items, ((index or 1) - 1) % #items + 1
  state.item = items[state.index]
end

--- What the user has not typed yet of `item` with the cursor at (row, col); nil when the
--- typing diverged from it or took all of it.
---@return string?
local function untyped(bufnr, item, row, col)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local typed = row == item.row and col >= item.col and line:sub(item.col + 1, col) or nil
  if not typed or item.text:sub(1, #typed) ~= typed or #typed == #item.text then
    return nil
  end
  return item.text:sub(#typed + 1)
end

--- Draw the part of the item the user has not typed yet; drop the items when the typing diverged.
---@param bufnr integer
function M.render(bufnr)
  local state = state_of(bufnr)
  clear_marks(bufnr)
  state.shown = nil
  local item = state.item
  local win = window_of(bufnr)
  if not item or not win or not vim.startswith(api.nvim_get_mode().mode, 'i') then
    return
  end
  local cursor = api.nvim_win_get_cursor(win)
  local row, col = cursor[1] - 1, cursor[2]
  local rest = untyped(bufnr, item, row, col)
  if not rest then
    return set_items(state, nil)
  end
  local hl = config.values.ghost.hl_group
  local lines = vim.split(rest, '\n', { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], hl } }
  end
  local replaces = item.end_row > row or item.end_col > col
  api.nvim_buf_set_extmark(bufnr, M.ns, row, col, {
    virt_text = { { lines[1], hl } },
    virt_text_pos = replaces and 'overlay' or 'inline',
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = 'combine',
  })
  state.shown = rest
end

--- Cancel the request in flight, if any.
---@param state cove.GhostState
local function cancel_request(state)
  local pending = state.request
  state.request = nil
  if pending then
    local client = vim.lsp.get_client_by_id(pending.client_id)
    if client then
      client:cancel_request(pending.id)
    end
  end
end

local function stop_timer(state)
  if state.timer then
    state.timer:stop()
    if not state.timer:is_closing() then
      state.timer:close()
    end
    state.timer = nil
  end
end

--- One item of the server's answer in buffer coordinates.
---@param bufnr integer
---@param client vim.lsp.Client
---@param raw lsp.InlineCompletionItem
---@param anchor { row: integer, col: integer }
---@return cove.GhostItem
local function to_item(bufnr, client, raw, anchor)
  local text = type(raw.insertText) == 'string' and raw.insertText or (raw.insertText or {}).value or ''
  local item = {
    client_id = client.id,
    row = anchor.row,
    col = anchor.col,
    text = text,
    end_row = anchor.row,
    end_col = anchor.col,
    command = raw.command,
  }
  if raw.range then
    local enc = client.offset_encoding
    item.row, item.col = raw.range.start.line, byte_col(bufnr, raw.range.start, enc)
    item.end_row, item.end_col = raw.range['end'].line, byte_col(bufnr, raw.range['end'], enc)
  end
  return item
end

--- Take the server's answer: all its (distinct, non-empty) items, items[index] on screen.
---@param bufnr integer
---@param client vim.lsp.Client
---@param result lsp.InlineCompletionList|lsp.InlineCompletionItem[]|nil
---@param anchor { row: integer, col: integer }
---@param explicit boolean
---@param index? integer
local function take_result(bufnr, client, result, anchor, explicit, index)
  local items, seen = {}, {}
  for _, raw in ipairs(result and (result.items or result) or {}) do
    local item = to_item(bufnr, client, raw, anchor)
    if item.text ~= '' and not seen[item.text] then
      seen[item.text] = true
      items[#items + 1] = item
    end
  end
  local state = state_of(bufnr)
  set_items(state, items, index)
  state.explicit = explicit and #items > 0 or nil
  M.render(bufnr)
end

--- Ask the server for a suggestion at the cursor.
---@param bufnr? integer
---@param kind? integer 1 invoked (a key: with the alternatives), 2 automatic (a pause in typing)
---@param index? integer which item of the answer to show first (default 1, wraps around)
function M.request(bufnr, kind, index)
  bufnr = bufnr or api.nvim_get_current_buf()
  local state = state_of(bufnr)
  local client = client_of(bufnr)
  local win = window_of(bufnr)
  if not client or not win then
    return
  end
  cancel_request(state)
  stop_timer(state) -- a pending automatic request would cancel this one
  local cursor = api.nvim_win_get_cursor(win)
  local anchor = { row = cursor[1] - 1, col = cursor[2] }
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  ---@diagnostic disable-next-line: inject-field
  params.context = { triggerKind = kind or 2 }
  local tick = api.nvim_buf_get_changedtick(bufnr)
  state.key = ('%d:%d:%d'):format(tick, anchor.row, anchor.col)
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    if state.request and state.request.id == id then
      state.request = nil
    end
    if err then
      if err.code ~= -32800 then -- RequestCancelled: a newer request took over
        vim.notify_once('Cove: ' .. (err.message or 'inline completion failed'), vim.log.levels.WARN)
      end
      return
    end
    if not api.nvim_buf_is_valid(bufnr) then
      return
    end
    take_result(bufnr, client, result, anchor, kind == 1, index)
  end, bufnr)
  if ok then
    state.request = { client_id = client.id, id = id }
  end
end

--- After typing: keep showing what still matches, and ask again after a pause.
---@param bufnr integer
local function on_typing(bufnr)
  local state = state_of(bufnr)
  M.render(bufnr)
  if not config.values.ghost.auto_trigger or (state.explicit and state.shown) then
    return -- typing through an explicit answer keeps its alternatives: no new request
  end
  local win = window_of(bufnr)
  if not win then
    return
  end
  local cursor = api.nvim_win_get_cursor(win)
  local key = ('%d:%d:%d'):format(api.nvim_buf_get_changedtick(bufnr), cursor[1] - 1, cursor[2])
  if key == state.key then
    return -- already asked here (InsertEnter and CursorMovedI often fire together)
  end
  stop_timer(state)
  state.timer = vim.defer_fn(function()
    state.timer = nil
    if api.nvim_buf_is_valid(bufnr) and vim.startswith(api.nvim_get_mode().mode, 'i') then
      M.request(bufnr, 2)
    end
  end, config.values.ghost.debounce_ms)
end

--- Hide the suggestion and forget the pending request.
---@param bufnr? integer
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if M.native() then
    -- 0.12 has no public "dismiss": re-enabling resets its state for this buffer.
    vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    return
  end
  local state = state_of(bufnr)
  cancel_request(state)
  stop_timer(state)
  set_items(state, nil)
  state.shown = nil
  clear_marks(bufnr)
end

--- Put `text` at the cursor (replacing up to `end_row, end_col`) and move the cursor after it.
---@return integer row, integer col where the cursor ends (0-based row)
local function insert_at_cursor(bufnr, win, text, end_row, end_col)
  local cursor = api.nvim_win_get_cursor(win)
  local row, col = cursor[1] - 1, cursor[2]
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, row, col, end_row or row, end_col or col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(win, { new_row + 1, new_col })
  return new_row, new_col
end

--- Accept the whole suggestion; runs its command (cove.accepted). False when none is shown.
---@param bufnr? integer
---@return boolean
function M.accept(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if M.native() then
    return vim.lsp.inline_completion.get({ bufnr = bufnr })
  end
  local state = state_of(bufnr)
  local item, rest, win = state.item, state.shown, window_of(bufnr)
  if not item or not rest or not win then
    return false
  end
  local cursor = api.nvim_win_get_cursor(win)
  local replaces = item.end_row > cursor[1] - 1 or (item.end_row == cursor[1] - 1 and item.end_col > cursor[2])
  M.dismiss(bufnr)
  insert_at_cursor(bufnr, win, rest, replaces and item.end_row or nil, replaces and item.end_col or nil)
  state.key = nil
  if item.command then
    local client = vim.lsp.get_client_by_id(item.client_id)
    if client then
      client:exec_cmd(item.command, { bufnr = bufnr })
    end
  end
  return true
end

--- Accept one line of the suggestion; the rest stays on screen.
---@param bufnr? integer
---@return boolean
function M.accept_line(bufnr)
  return require('cove.partial').accept_line(bufnr)
end

--- Accept the next word of the suggestion; the rest stays on screen.
---@param bufnr? integer
---@return boolean
function M.accept_word(bufnr)
  return require('cove.partial').accept_word(bufnr)
end

--- Show the next (`delta` 1) or previous (-1) suggestion. False when none is shown.
---@param bufnr? integer
---@param delta integer
---@return boolean
function M.cycle(bufnr, delta)
  return require('cove.partial').cycle(bufnr, delta)
end

-- For cove.partial (partial accepts and cycling), which works on this module's state.
M._state_of, M._window_of, M._set_items, M._untyped = state_of, window_of, set_items, untyped
M._insert_at_cursor = insert_at_cursor

--- Stop what would replace the suggestion: the request in flight and the pending one.
---@param state cove.GhostState
function M._hold(state)
  cancel_request(state)
  stop_timer(state)
end

--- Map one insert-mode key: do `action` when a suggestion is shown, else the key itself.
local function map(bufnr, lhs, action, desc)
  if not lhs then
    return
  end
  vim.keymap.set('i', lhs, function()
    if M.native() then
      -- 0.12 schedules its own edits, so its functions may run inside an <expr> mapping.
      return action(bufnr) and '' or lhs
    end
    if not M.visible(bufnr) then
      return lhs
    end
    -- Scheduled: an <expr> mapping may not change the buffer itself.
    vim.schedule(function()
      action(bufnr)
    end)
    return ''
  end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc })
end

--- Set up ghost text for a buffer the Cove client attached to.
---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  local opts = config.values
  if not opts.ghost.enabled or vim.tbl_contains(opts.ghost.exclude_filetypes, vim.bo[bufnr].filetype) then
    return
  end
  if not (client.server_capabilities and client.server_capabilities.inlineCompletionProvider) then
    return
  end
  local keys = opts.keymaps
  map(bufnr, keys.accept, M.accept, 'Cove: accept the suggestion')
  map(bufnr, keys.accept_line, M.accept_line, 'Cove: accept one line of the suggestion')
  map(bufnr, keys.accept_word, M.accept_word, 'Cove: accept the next word of the suggestion')
  map(bufnr, keys.next, function(b)
    return M.cycle(b, 1)
  end, 'Cove: show the next suggestion')
  map(bufnr, keys.prev, function(b)
    return M.cycle(b, -1)
  end, 'Cove: show the previous suggestion')
  map(bufnr, keys.dismiss, function(b)
    M.dismiss(b)
    return true
  end, 'Cove: dismiss the suggestion')
  if keys.trigger then
    vim.keymap.set('i', keys.trigger, function()
      if M.native() then
        vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
      else
        M.request(bufnr, 1)
      end
    end, { buffer = bufnr, desc = 'Cove: ask for a suggestion now' })
  end
  if M.native() then
    if opts.ghost.auto_trigger then
      vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    end
    return
  end
  local group = api.nvim_create_augroup('cove.ghost.' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'InsertEnter', 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_typing(bufnr)
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
    end,
  })
  buffers.clear_on_detach(group, client, bufnr, function()
    M.dismiss(bufnr)
    states[bufnr] = nil
  end)
end

return M
