--- Partial accepts (the next word, the next line) and cycling through the alternatives.
---
--- The text functions are pure; the rest works on cove.ghost's state (0.11, our own extmarks)
--- or on vim.lsp.inline_completion (0.12+).
local ghost = require('cove.ghost')

local api = vim.api
local M = {}

-- Bytes of a word: ASCII letters, digits, '_' and every byte of a multi-byte UTF-8
-- character (so "naïve" stays one word).
local WORD = '[%w_\128-\255]'
local PUNCT = '[^%w_\128-\255%s]'

--- The next line of a suggestion: up to its first newline (a leading newline and the line after it).
---@param rest string
---@return string
function M.first_line(rest)
  local newline = rest:find('\n', 1, true)
  if not newline then
    return rest
  end
  if newline > 1 then
    return rest:sub(1, newline - 1)
  end
  local second = rest:find('\n', 2, true)
  return second and rest:sub(1, second - 1) or rest
end

--- The next word of a suggestion, as VS Code's acceptNextWord takes it: leading blanks plus
--- one run of word characters, or one run of punctuation. At a line break: the break and the
--- next line's indentation, so that the word after them is the next piece.
---@param rest string
---@return string
function M.next_word(rest)
  local blanks = rest:match('^[ \t]*')
  local after = rest:sub(#blanks + 1)
  local piece = after:match('^' .. WORD .. '+') or after:match('^' .. PUNCT .. '+')
  if piece then
    return blanks .. piece
  end
  local line_break = after:match('^\r?\n[ \t]*')
  return line_break and blanks .. line_break or rest
end

--- Neovim 0.12+: insert only `cut(rest)` of the current vim.lsp.inline_completion item, rest
--- being what the user has not typed of it. 0.12 asks again at the new cursor, and the
--- server's typed-ahead cache answers with the rest without running the model.
---@param bufnr integer
---@param cut fun(rest: string): string
---@return boolean false when no candidate is shown
local function native_accept(bufnr, cut)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = type(item.insert_text) == 'string' and item.insert_text or item.insert_text.value
      local win = ghost._window_of(bufnr)
      if not win then
        return
      end
      local cursor = api.nvim_win_get_cursor(win)
      local start = item.range and item.range.start
      local typed = start and start.row == cursor[1] - 1 and cursor[2] - start.col or 0
      ghost._insert_at_cursor(bufnr, win, cut(text:sub(typed + 1)))
    end,
  })
end

--- Accept `cut(rest)` of the suggestion (when that is all of it: a whole accept, with its
--- command); the rest stays on screen as the only item, without asking the server again.
---@param bufnr? integer
---@param cut fun(rest: string): string
---@return boolean false when none is shown
local function accept_piece(bufnr, cut)
  bufnr = bufnr or api.nvim_get_current_buf()
  if ghost.native() then
    return native_accept(bufnr, cut)
  end
  local state = ghost._state_of(bufnr)
  local item, rest, win = state.item, state.shown, ghost._window_of(bufnr)
  if not item or not rest or not win then
    return false
  end
  local piece = cut(rest)
  if piece == rest then
    return ghost.accept(bufnr)
  end
  ghost._hold(state)
  local row, col = ghost._insert_at_cursor(bufnr, win, piece)
  -- What is left is a plain insertion at the new cursor; the other items no longer fit.
  local left = { row = row, col = col, text = rest:sub(#piece + 1), end_row = row, end_col = col }
  ghost._set_items(state, { vim.tbl_extend('force', item, left) })
  state.explicit = nil -- cycling from here asks for alternatives at the new cursor
  -- Skip the automatic request our own edit would trigger: the rest is still good.
  state.key = ('%d:%d:%d'):format(api.nvim_buf_get_changedtick(bufnr), row, col)
  ghost.render(bufnr)
  return true
end

--- Accept one line of the suggestion.
---@param bufnr? integer
---@return boolean
function M.accept_line(bufnr)
  return accept_piece(bufnr, M.first_line)
end

--- Accept the next word of the suggestion (see next_word).
---@param bufnr? integer
---@return boolean
function M.accept_word(bufnr)
  return accept_piece(bufnr, M.next_word)
end

--- Show the next (`delta` 1) or previous (-1) item of the answer. An automatic answer has
--- one item: ask again explicitly (the server adds its alternatives) and show the one after
--- it. Items the typing since the answer diverged from are skipped.
---@param bufnr? integer
---@param delta integer
---@return boolean false when none is shown
function M.cycle(bufnr, delta)
  bufnr = bufnr or api.nvim_get_current_buf()
  if ghost.native() then
    vim.lsp.inline_completion.select({ bufnr = bufnr, count = delta })
    return true
  end
  local state = ghost._state_of(bufnr)
  local win = ghost._window_of(bufnr)
  if not state.shown or not win then
    return false
  end
  if not state.explicit then
    ghost.request(bufnr, 1, 1 + delta) -- its first item is most likely the one shown now
    return true
  end
  local cursor = api.nvim_win_get_cursor(win)
  local n = #state.items
  for step = 1, n - 1 do
    local index = (state.index - 1 + delta * step) % n + 1
    if ghost._untyped(bufnr, state.items[index], cursor[1] - 1, cursor[2]) then
      ghost._set_items(state, state.items, index)
      break
    end
  end
  ghost.render(bufnr)
  return true
end

return M
