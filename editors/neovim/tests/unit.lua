-- Fast tests of the plugin's editor behaviour against an in-process fake server (no model):
-- ghost text rendering and its keys, progress → statusline, the commit buffer, health.
--
--   nvim --headless --clean -u editors/neovim/tests/unit.lua
local t = dofile(vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, 'S').source:sub(2))) .. '/harness.lua')
local check, equal, wait_for, step, feed, mode = t.check, t.equal, t.wait_for, t.step, t.feed, t.mode

t.load_plugin()
require('cove').setup({ ghost = { debounce_ms = 10 } })

-- The fake server: answers like `cove serve`, from a script the tests control.
local fake = {
  suggestion = 'math.pi * radius ** 2', -- what the "model" completes after "return "
  alternatives = {}, -- what else it offers on an explicit request
  requests = {}, -- inlineCompletion params, in order
  commands = {}, -- executeCommand params, in order
  cursors = {}, -- cove/cursor params, in order
  loaded = false,
}

local function fake_server(dispatchers)
  local closing = false
  local next_id = 0
  local function reply(callback, result)
    vim.schedule(function()
      callback(nil, result)
    end)
  end
  local handlers = {
    initialize = function()
      return {
        capabilities = {
          textDocumentSync = 1,
          inlineCompletionProvider = {},
          executeCommandProvider = {
            commands = { 'cove.accepted', 'cove.status', 'cove.explain', 'cove.writeDocstring', 'cove.draftCommitMessage' },
          },
        },
      }
    end,
    ['textDocument/inlineCompletion'] = function(params)
      table.insert(fake.requests, params)
      local bufnr = vim.uri_to_bufnr(params.textDocument.uri)
      local line = vim.api.nvim_buf_get_lines(bufnr, params.position.line, params.position.line + 1, false)[1]
      local typed = line:sub(1, params.position.character):match('return (.*)$')
      -- Like the server: the alternatives only for an explicit request (Invoked).
      local texts = { fake.suggestion, unpack(params.context.triggerKind == 1 and fake.alternatives or {}) }
      local items = {}
      for _, text in ipairs(typed and texts or {}) do
        if text:sub(1, #typed) == typed then
          local rest = text:sub(#typed + 1)
          items[#items + 1] = {
            insertText = rest,
            range = { start = params.position, ['end'] = params.position },
            command = { title = 'accepted', command = 'cove.accepted', arguments = { { text = rest } } },
          }
        end
      end
      return { items = items }
    end,
    ['workspace/executeCommand'] = function(params)
      table.insert(fake.commands, params)
      if params.command == 'cove.status' then
        return { state = fake.loaded and 'ready' or 'loading', model = 'fake', template = 'none', message = '' }
      elseif params.command == 'cove.draftCommitMessage' then
        return 'Add square_area helper\n\nSquares are rectangles too.'
      elseif params.command == 'cove.explain' then
        return 'It returns the **area** of a circle.'
      end
      return {}
    end,
    shutdown = function()
      return vim.NIL
    end,
  }
  fake.start_loading = function()
    dispatchers.server_request('window/workDoneProgress/create', { token = 'load' })
    dispatchers.notification('$/progress', { token = 'load', value = { kind = 'begin', title = 'Cove: loading model' } })
  end
  fake.finish_loading = function()
    fake.loaded = true
    dispatchers.notification('$/progress', { token = 'load', value = { kind = 'end', message = 'fake' } })
  end
  return {
    request = function(method, params, callback)
      next_id = next_id + 1
      local handler = handlers[method]
      reply(callback, handler and handler(params) or vim.NIL)
      return true, next_id
    end,
    notify = function(method, params)
      if method == 'cove/cursor' then
        table.insert(fake.cursors, params)
      elseif method == 'initialized' then
        vim.schedule(fake.start_loading)
      elseif method == 'exit' then
        closing = true
      end
      return true
    end,
    is_closing = function()
      return closing
    end,
    terminate = function()
      closing = true
    end,
  }
end

vim.lsp.config('cove', { cmd = fake_server })
vim.lsp.enable('cove')

local function ghost_text(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, require('cove.ghost').ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local d = marks[1][4]
  local lines = { d.virt_text[1][1] }
  for _, l in ipairs(d.virt_lines or {}) do
    lines[#lines + 1] = l[1][1]
  end
  return table.concat(lines, '\n'), marks[1]
end

local function line(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1]
end

local function main()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  vim.fn.writefile({ 'import math', '', 'def circle_area(radius):', '    return ' }, dir .. '/geometry.py')
  vim.cmd.edit(dir .. '/geometry.py')
  local bufnr = vim.api.nvim_get_current_buf()
  local cove = require('cove')
  local ghost = require('cove.ghost')
  local client = wait_for('attach', function()
    local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'cove' })[1]
    return c and c.initialized and c
  end)

  step('statusline follows $/progress and cove.status', function()
    wait_for('loading state', function()
      return cove.statusline() == 'Cove: loading model'
    end)
    fake.finish_loading()
    wait_for('ready state', function()
      return cove.statusline() == 'Cove'
    end)
  end)

  step('cove/cursor: sent on attach, and where the cursor rests (CursorHold)', function()
    local uri = vim.uri_from_bufnr(bufnr)
    wait_for('cursor on attach', function()
      return #fake.cursors >= 1
    end)
    equal(fake.cursors[1], { textDocument = { uri = uri }, position = { line = 0, character = 0 } }, 'on attach')
    vim.api.nvim_win_set_cursor(0, { 3, 4 })
    vim.api.nvim_exec_autocmds('CursorHold', { buffer = bufnr })
    equal(fake.cursors[#fake.cursors], { textDocument = { uri = uri }, position = { line = 2, character = 4 } }, 'held')
  end)

  step('ghost text appears after a pause, inline at the cursor', function()
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    feed('A', 'n')
    wait_for('ghost text', function()
      return ghost_text(bufnr)
    end)
    local text, mark = ghost_text(bufnr)
    equal(text, 'math.pi * radius ** 2', 'ghost text')
    equal({ mark[2], mark[3], mark[4].virt_text_pos }, { 3, 11, 'inline' }, 'extmark position')
    equal(line(bufnr, 4), '    return ', 'the buffer is unchanged')
    equal(fake.requests[#fake.requests].context.triggerKind, 2, 'automatic trigger')
  end)

  step('typing what the ghost shows keeps the rest on screen', function()
    feed('math', 'n')
    wait_for('buffer typed', function()
      return line(bufnr, 4) == '    return math'
    end)
    equal((ghost_text(bufnr)), '.pi * radius ** 2', 'ghost after typing')
  end)

  step('typing something else removes it', function()
    feed('X', 'n')
    wait_for('ghost gone', function()
      return line(bufnr, 4) == '    return mathX' and ghost_text(bufnr) == nil
    end)
    t.sleep(50) -- the new request answers with nothing
    equal(ghost_text(bufnr), nil, 'no ghost after divergence')
    feed('<BS>', 'n')
    wait_for('ghost back', function()
      return ghost_text(bufnr) == '.pi * radius ** 2'
    end)
  end)

  step('dismiss key hides it; Tab without a ghost is a Tab', function()
    feed('<C-]>')
    wait_for('dismissed', function()
      return ghost_text(bufnr) == nil and not ghost.visible(bufnr)
    end)
    feed('<Tab>')
    wait_for('Tab doing what Tab does (python: spaces)', function()
      return line(bufnr, 4):match('^    return math%s+$')
    end)
    feed('<BS>', 'n')
    wait_for('ghost back', function()
      return ghost_text(bufnr) == '.pi * radius ** 2'
    end)
  end)

  step('Tab accepts the whole suggestion and runs cove.accepted', function()
    local before = #fake.commands
    feed('<Tab>')
    wait_for('accepted', function()
      return line(bufnr, 4) == '    return math.pi * radius ** 2'
    end)
    equal(vim.api.nvim_win_get_cursor(0), { 4, #'    return math.pi * radius ** 2' }, 'cursor after the text')
    local accepted = wait_for('cove.accepted', function()
      for i = before + 1, #fake.commands do
        if fake.commands[i].command == 'cove.accepted' then
          return fake.commands[i]
        end
      end
    end)
    equal(accepted.arguments, { { text = '.pi * radius ** 2' } }, 'accept arguments')
    feed('<Esc>', 'n')
    wait_for('normal mode, no ghost', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
  end)

  step('accept line takes one line of a multi-line suggestion', function()
    fake.suggestion = 'compute(\n        radius,\n    )'
    vim.api.nvim_buf_set_lines(bufnr, 3, 4, false, { '    return ' })
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    feed('A', 'n')
    wait_for('multi-line ghost', function()
      return ghost_text(bufnr)
    end)
    local text, mark = ghost_text(bufnr)
    equal(text, 'compute(\n        radius,\n    )', 'ghost text')
    equal(#mark[4].virt_lines, 2, 'two virtual lines below')
    feed('<M-l>')
    wait_for('first line accepted', function()
      return line(bufnr, 4) == '    return compute('
    end)
    equal((ghost_text(bufnr)), '\n        radius,\n    )', 'the rest still shown')
    feed('<M-l>')
    wait_for('second line accepted', function()
      return line(bufnr, 5) == '        radius,'
    end)
    equal(vim.api.nvim_win_get_cursor(0), { 5, #'        radius,' }, 'cursor at the end of the accepted line')
    feed('<Esc>', 'n')
    wait_for('normal mode', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
  end)

  --- A fresh "    return " line in insert mode with the automatic suggestion on screen.
  local function fresh_return_line()
    vim.api.nvim_buf_set_lines(bufnr, 3, -1, false, { '    return ' })
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    feed('A', 'n')
    wait_for('automatic ghost', function()
      return ghost_text(bufnr) == fake.suggestion
    end)
  end

  --- The last cove.accepted since `before` commands.
  local function accepted_since(before)
    return wait_for('cove.accepted', function()
      for i = #fake.commands, before + 1, -1 do
        if fake.commands[i].command == 'cove.accepted' then
          return fake.commands[i]
        end
      end
    end)
  end

  step('accept word takes the suggestion word by word; the rest stays, no new request', function()
    fake.suggestion = 'foo.bar(baz) + qux'
    fresh_return_line()
    local asked, before = #fake.requests, #fake.commands
    local typed = ''
    for _, word in ipairs({ 'foo', '.', 'bar', '(', 'baz', ')', ' +', ' qux' }) do
      typed = typed .. word
      feed('<M-Right>')
      wait_for('word ' .. vim.inspect(word), function()
        return line(bufnr, 4) == '    return ' .. typed
      end)
      equal(vim.api.nvim_win_get_cursor(0), { 4, #'    return ' + #typed }, 'cursor after the word')
      t.sleep(40) -- past the debounce: an automatic request would have gone out by now
      local rest = fake.suggestion:sub(#typed + 1)
      equal(ghost_text(bufnr), rest ~= '' and rest or nil, 'ghost after ' .. vim.inspect(typed))
      if rest ~= '' then -- (after a whole accept Cove asks again, for the next suggestion)
        equal(#fake.requests, asked, 'requests sent after accepting ' .. vim.inspect(typed))
      end
    end
    equal(accepted_since(before).arguments, { { text = 'foo.bar(baz) + qux' } }, 'the last word is a whole accept')
    feed('<Esc>', 'n')
    wait_for('normal mode', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
  end)

  step('accept word at a line break takes it and the indentation, then the next word', function()
    fake.suggestion = 'compute(\n        radius)'
    fresh_return_line()
    feed('<M-Right>')
    feed('<M-Right>')
    wait_for('the first line', function()
      return line(bufnr, 4) == '    return compute('
    end)
    feed('<M-Right>')
    wait_for('the break and the indentation', function()
      return line(bufnr, 5) == '        '
    end)
    equal(ghost_text(bufnr), 'radius)', 'ghost on the new line')
    feed('<M-Right>')
    wait_for('the word after the break', function()
      return line(bufnr, 5) == '        radius'
    end)
    feed('<Esc>', 'n')
    wait_for('normal mode', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
  end)

  step('trigger asks explicitly; next/prev cycle its items, typing filters them, Tab takes the shown one', function()
    fake.suggestion = 'math.pi * radius ** 2'
    fake.alternatives = { 'radius * radius * math.pi', 'math.tau * radius ** 2 / 2' }
    fresh_return_line()
    feed('<C-]>')
    feed('<M-\\>')
    wait_for('the explicit answer', function()
      return select(2, ghost.position(bufnr)) == 3
    end)
    equal(fake.requests[#fake.requests].context.triggerKind, 1, 'explicit trigger')
    local function shows(index, text)
      wait_for(('item %d: %s'):format(index, text), function()
        return ghost.position(bufnr) == index and ghost_text(bufnr) == text
      end)
    end
    shows(1, 'math.pi * radius ** 2')
    feed('<M-]>')
    shows(2, 'radius * radius * math.pi')
    feed('<M-]>')
    shows(3, 'math.tau * radius ** 2 / 2')
    feed('<M-]>')
    shows(1, 'math.pi * radius ** 2')
    feed('<M-[>')
    shows(3, 'math.tau * radius ** 2 / 2')
    local asked, before = #fake.requests, #fake.commands
    feed('m', 'n')
    shows(3, 'ath.tau * radius ** 2 / 2')
    feed('<M-]>')
    shows(1, 'ath.pi * radius ** 2') -- "radius * ..." no longer fits what was typed
    feed('<M-]>')
    shows(3, 'ath.tau * radius ** 2 / 2')
    t.sleep(40)
    equal(#fake.requests, asked, 'no request while typing through an explicit answer')
    feed('<Tab>')
    wait_for('the shown item accepted', function()
      return line(bufnr, 4) == '    return math.tau * radius ** 2 / 2'
    end)
    equal(accepted_since(before).arguments, { { text = 'math.tau * radius ** 2 / 2' } }, 'its command')
    feed('<Esc>', 'n')
    wait_for('normal mode', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
  end)

  step('next after an automatic suggestion asks for the alternatives and shows the second', function()
    fresh_return_line()
    equal({ ghost.position(bufnr) }, { 1, 1 }, 'one automatic item')
    equal(fake.requests[#fake.requests].context.triggerKind, 2, 'automatic request')
    feed('<M-]>')
    wait_for('the second item', function()
      return ghost.position(bufnr) == 2 and ghost_text(bufnr) == 'radius * radius * math.pi'
    end)
    equal(fake.requests[#fake.requests].context.triggerKind, 1, 'explicit request')
    feed('<Esc>', 'n')
    wait_for('normal mode', function()
      return mode() == 'n' and ghost_text(bufnr) == nil
    end)
    fake.alternatives = {}
  end)

  step(':CoveExplain shows the Markdown in a scratch buffer', function()
    vim.cmd('3,4CoveExplain')
    local lines = wait_for('explain buffer', function()
      local b = vim.fn.bufnr('cove://explain')
      return b ~= -1 and vim.api.nvim_buf_get_lines(b, 0, -1, false)
    end)
    check(lines[1]:find('geometry.py:3-4', 1, true), 'heading: ' .. lines[1])
    equal(lines[3], 'It returns the **area** of a circle.', 'body')
    local params = fake.commands[#fake.commands]
    equal(params.command, 'cove.explain', 'command')
    equal(params.arguments[1].range, { start = { line = 2, character = 0 }, ['end'] = { line = 3, character = #line(bufnr, 4) } }, 'range')
    equal(vim.api.nvim_get_current_buf(), bufnr, 'focus stays in the source')
  end)

  step(':CoveCommitMessage fills a commit buffer above git\'s comments', function()
    vim.system({ 'git', 'init', '-q', dir }):wait()
    vim.fn.writefile({ '', '# Please enter the commit message.', '#', '# On branch main' }, dir .. '/.git/COMMIT_EDITMSG')
    vim.cmd.edit(dir .. '/.git/COMMIT_EDITMSG')
    local commit = vim.api.nvim_get_current_buf()
    equal(vim.bo[commit].filetype, 'gitcommit', 'filetype')
    vim.cmd('CoveCommitMessage')
    wait_for('message inserted', function()
      return line(commit, 1) == 'Add square_area helper'
    end)
    equal(vim.api.nvim_buf_get_lines(commit, 0, -1, false), {
      'Add square_area helper',
      '',
      'Squares are rectangles too.',
      '',
      '# Please enter the commit message.',
      '#',
      '# On branch main',
    }, 'commit buffer')
    equal(fake.commands[#fake.commands].arguments, { { repo = vim.uv.fs_realpath(dir) } }, 'repo argument')
  end)

  step(':checkhealth cove reports the running server', function()
    vim.cmd('checkhealth cove')
    local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
    check(text:find('ready, model fake', 1, true), 'health shows the status:\n' .. text)
    check(text:find('offers inline completion', 1, true), 'health shows ghost text support')
  end)

  step('detaching the client deletes the ghost\'s and the cursor\'s autocommands', function()
    local function has_group(name)
      return (pcall(vim.api.nvim_get_autocmds, { group = name }))
    end
    local groups = { 'cove.ghost.' .. bufnr, 'cove.cursor.' .. bufnr }
    for _, name in ipairs(groups) do
      check(has_group(name), name .. ' exists while attached')
    end
    vim.lsp.buf_detach_client(bufnr, client.id)
    wait_for('groups deleted', function()
      return not has_group(groups[1]) and not has_group(groups[2])
    end)
  end)
end

t.run('cove nvim unit', main, { timeout_ms = 60000 })
