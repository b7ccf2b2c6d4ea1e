-- End-to-end test of the Cove Neovim plugin against the real `cove serve` and model.
--
--   COVE_SERVER=/path/to/cove nvim --headless --clean -u editors/neovim/tests/e2e.lua
--
-- Runs as a coroutine on Neovim's main loop (tests/harness.lua). Exits 0 when every step
-- passed, 1 on a failed step, 3 on the hard timeout ($COVE_TEST_TIMEOUT_MS).
local t = dofile(vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, 'S').source:sub(2))) .. '/harness.lua')
local check, wait_for, step, feed, out = t.check, t.wait_for, t.step, t.feed, t.out

local SERVER = os.getenv('COVE_SERVER') or 'cove'
local HARD_TIMEOUT_MS = tonumber(os.getenv('COVE_TEST_TIMEOUT_MS') or '') or 480000

t.load_plugin()
require('cove').setup({ ghost = { debounce_ms = 100 } })
vim.lsp.config('cove', {
  cmd = { SERVER, 'serve' },
  -- A generous deadline: a cold completion on a busy 2-core CI machine can take 10+ s.
  init_options = { generation = { maxTokens = 48, deadlineMs = 60000 } },
})
vim.lsp.enable('cove')

local function git(dir, ...)
  local result = vim.system({ 'git', '-C', dir, ... }, { text = true }):wait()
  check(result.code == 0, 'git ' .. table.concat({ ... }, ' ') .. ': ' .. (result.stderr or ''))
end

-- rectangle_area above circle_area: with it below, the 0.5B model answers "0.5 * width * height".
local GEOMETRY = {
  'import math',
  '',
  '',
  'def rectangle_area(width, height):',
  '    return width * height',
  '',
  '',
  'def circle_area(radius):',
  '    """Return the area of a circle."""',
  '    return ',
}
local RETURN_ROW = 10 -- 1-based row of "    return "
-- Appended for the explicit request: a body the model can start in several ways.
local EXPLICIT_LINES = { '', '', 'def triangle_area(base, height):', '    return ' }

local function make_repository()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  dir = vim.uv.fs_realpath(dir)
  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'config', 'user.email', 'dev@example.com')
  git(dir, 'config', 'user.name', 'Dev')
  git(dir, 'config', 'commit.gpgsign', 'false')
  vim.fn.writefile(GEOMETRY, dir .. '/geometry.py')
  git(dir, 'add', 'geometry.py')
  git(dir, 'commit', '-q', '-m', 'Add circle and rectangle area helpers')
  vim.fn.writefile({ 'def square_area(side):', '    """Return the area of a square."""', '    return side * side' }, dir .. '/shapes.py')
  git(dir, 'add', 'shapes.py')
  return dir
end

--- The ghost text as drawn: the extmark's inline text plus its virtual lines.
local function drawn_ghost(bufnr)
  local ns = require('cove.ghost').ns
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local lines = { table.concat(vim.tbl_map(function(chunk)
    return chunk[1]
  end, details.virt_text or {})) }
  for _, virt_line in ipairs(details.virt_lines or {}) do
    lines[#lines + 1] = table.concat(vim.tbl_map(function(chunk)
      return chunk[1]
    end, virt_line))
  end
  return table.concat(lines, '\n'), marks[1]
end

--- The next word as VS Code's acceptNextWord takes it: blanks and a run of word characters,
--- or a run of punctuation (written apart from cove.partial, to check it).
local function first_word(text)
  return text:match('^[ \t]*[%w_]+') or text:match('^[ \t]*[^%w_%s]+') or text
end

local function main()
  local repo = make_repository()
  local file = repo .. '/geometry.py'
  local bufnr, client

  step('start server + attach', function()
    vim.cmd.edit(vim.fn.fnameescape(file))
    bufnr = vim.api.nvim_get_current_buf()
    client = wait_for('the cove client to attach', function()
      local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'cove' })[1]
      return c and c.initialized and c
    end)
    check(client.server_capabilities.inlineCompletionProvider, 'server offers inline completion')
  end)

  step('model ready ($/progress → status)', function()
    wait_for('$/progress end and cove.status ready', function()
      local s = require('cove').status_by_client[client.id]
      if s and s.state == 'error' then
        error('the server reported an error: ' .. tostring(s.detail))
      end
      return s and s.state == 'ready'
    end, 180000)
    check(require('cove').statusline() == 'Cove', 'statusline says ready: ' .. require('cove').statusline())
  end)

  local ghost
  step('ghost text (auto-trigger after a pause)', function()
    vim.api.nvim_win_set_cursor(0, { RETURN_ROW, 0 })
    feed('A', 'n') -- append at the end of "    return "
    wait_for('insert mode', function()
      return vim.api.nvim_get_mode().mode == 'i'
    end)
    ghost = wait_for('ghost text', function()
      return require('cove.ghost').shown(bufnr)
    end)
    local drawn, mark = drawn_ghost(bufnr)
    check(drawn == ghost, ('the extmark shows the suggestion: %q vs %q'):format(tostring(drawn), ghost))
    check(mark[2] == RETURN_ROW - 1 and mark[3] == #'    return ', 'the extmark sits at the cursor')
    check(ghost:find('radius', 1, true), 'the area of a circle uses its radius: ' .. ghost)
    out('# suggestion: ' .. vim.inspect(ghost))
  end)

  --- The buffer from the "    return " line on, as one string.
  local function from_return()
    return table.concat(vim.api.nvim_buf_get_lines(bufnr, RETURN_ROW - 1, -1, false), '\n')
  end

  step('accept word, twice: the start of the suggestion, the rest stays without a request', function()
    local g = require('cove.ghost')
    local w1 = first_word(ghost)
    local w2 = first_word(ghost:sub(#w1 + 1))
    check(not (w1 .. w2):find('\n') and #w1 + #w2 < #ghost, 'two words and more on its first line: ' .. ghost)
    for _, typed in ipairs({ w1, w1 .. w2 }) do
      feed('<M-Right>')
      wait_for('accepted ' .. vim.inspect(typed), function()
        return from_return() == '    return ' .. typed
      end, 10000)
      check(g.shown(bufnr) == ghost:sub(#typed + 1), 'the rest on screen at once: ' .. tostring(g.shown(bufnr)))
    end
    t.sleep(500) -- past the debounce (100 ms): an automatic request would have gone out
    local state = g._state_of(bufnr)
    check(state.request == nil and state.timer == nil, 'no request after the accepted words')
    check(g.shown(bufnr) == ghost:sub(#w1 + #w2 + 1), 'the rest still shown: ' .. tostring(g.shown(bufnr)))
    out('# accepted words: ' .. vim.inspect({ w1, w2 }))
  end)

  step('accept the rest with <Tab>', function()
    feed('<Tab>')
    wait_for('the accepted text in the buffer', function()
      return from_return() == '    return ' .. ghost
    end, 10000)
    local lines = vim.split(ghost, '\n', { plain = true })
    local got = vim.api.nvim_buf_get_lines(bufnr, RETURN_ROW - 1, RETURN_ROW - 1 + #lines, false)
    lines[1] = '    return ' .. lines[1]
    check(vim.deep_equal(got, lines), ('buffer after accept: %s, expected %s'):format(vim.inspect(got), vim.inspect(lines)))
    local cursor = vim.api.nvim_win_get_cursor(0)
    check(cursor[1] == RETURN_ROW - 1 + #lines and cursor[2] == #got[#got], 'the cursor is after the accepted text')
    feed('<Esc>', 'n')
    wait_for('normal mode without ghost text', function()
      return vim.api.nvim_get_mode().mode == 'n' and drawn_ghost(bufnr) == nil
    end)
  end)

  step('an explicit request (trigger key) gets alternatives; next shows another', function()
    local g = require('cove.ghost')
    local last = vim.api.nvim_buf_line_count(bufnr)
    vim.api.nvim_buf_set_lines(bufnr, last, last, false, EXPLICIT_LINES)
    vim.api.nvim_win_set_cursor(0, { last + #EXPLICIT_LINES, 0 })
    feed('A', 'n')
    t.sleep(300) -- let the automatic request go out; the trigger replaces it
    feed('<M-\\>')
    wait_for('the explicit answer', function()
      return g._state_of(bufnr).explicit and g.shown(bufnr)
    end, 60000)
    local items = vim.tbl_map(function(item)
      return item.text
    end, g._state_of(bufnr).items)
    out('# explicit items: ' .. vim.inspect(items))
    check(#items >= 2 and items[1] ~= items[2], 'at least two distinct items: ' .. vim.inspect(items))
    local first = g.shown(bufnr)
    feed('<M-]>')
    wait_for('the second item on screen', function()
      return g.position(bufnr) == 2
    end, 10000)
    check(g.shown(bufnr) == items[2] and items[2] ~= first, 'the second item shown: ' .. tostring(g.shown(bufnr)))
    feed('<Esc>', 'n')
    wait_for('normal mode without ghost text', function()
      return vim.api.nvim_get_mode().mode == 'n' and drawn_ghost(bufnr) == nil
    end)
  end)

  step('code action "Cove: Write docstring" (resolve + apply)', function()
    local def_row = 0
    for i, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
      if line:find('^def rectangle_area') then
        def_row = i
      end
    end
    check(def_row > 0, 'rectangle_area is in the buffer')
    vim.api.nvim_win_set_cursor(0, { def_row, 4 })
    local before = vim.api.nvim_buf_line_count(bufnr)
    vim.lsp.buf.code_action({
      apply = true,
      filter = function(action)
        return action.title == 'Cove: Write docstring'
      end,
    })
    wait_for('a docstring under rectangle_area', function()
      local next_line = vim.api.nvim_buf_get_lines(bufnr, def_row, def_row + 1, false)[1] or ''
      return vim.api.nvim_buf_line_count(bufnr) > before and next_line:find('"""', 1, true)
    end)
    out('# docstring: ' .. vim.inspect(vim.api.nvim_buf_get_lines(bufnr, def_row, def_row + 3, false)))
  end)

  step(':CoveExplain', function()
    vim.cmd('4,6CoveExplain')
    local lines = wait_for('the explanation buffer', function()
      local explain = vim.fn.bufnr('cove://explain')
      local lines = explain ~= -1 and vim.api.nvim_buf_get_lines(explain, 0, -1, false) or {}
      return #lines > 2 and lines
    end)
    check(lines[1]:find('geometry.py:4-6', 1, true), 'heading names the lines: ' .. lines[1])
    local body = vim.trim(table.concat(lines, '\n', 3))
    check(#body > 20, 'an explanation: ' .. body)
    check(vim.api.nvim_get_current_buf() == bufnr, 'focus stays in the source window')
    out('# explanation: ' .. vim.inspect(body:sub(1, 120)))
  end)

  step(':CoveCommitMessage in a commit buffer', function()
    local message_file = repo .. '/.git/COMMIT_EDITMSG'
    vim.fn.writefile({
      '',
      '# Please enter the commit message for your changes. Lines starting',
      "# with '#' will be ignored, and an empty message aborts the commit.",
      '#',
      '# On branch main',
      '# Changes to be committed:',
      '#\tnew file:   shapes.py',
      '#',
    }, message_file)
    vim.cmd.edit(vim.fn.fnameescape(message_file))
    local commit_buf = vim.api.nvim_get_current_buf()
    check(vim.bo[commit_buf].filetype == 'gitcommit', 'COMMIT_EDITMSG is a gitcommit buffer')
    vim.cmd('CoveCommitMessage')
    local lines = wait_for('a drafted message', function()
      local lines = vim.api.nvim_buf_get_lines(commit_buf, 0, -1, false)
      return vim.trim(lines[1] or '') ~= '' and lines
    end)
    check(not lines[1]:find('^#'), 'the subject is not a comment: ' .. lines[1])
    local first_comment
    for i, line in ipairs(lines) do
      if line:find('^#') then
        first_comment = first_comment or i
      end
    end
    check(first_comment and lines[first_comment - 1] == '', 'a blank line separates message and comments')
    check(lines[#lines] == '#' and first_comment, 'git\'s comments are kept')
    out('# commit message: ' .. vim.inspect(table.concat(lines, '\n', 1, first_comment - 2)))
  end)
end

t.run('cove nvim e2e', main, {
  timeout_ms = HARD_TIMEOUT_MS,
  on_failure = function()
    io.stderr:write('LSP log: ' .. vim.lsp.get_log_path() .. '\n')
  end,
})
