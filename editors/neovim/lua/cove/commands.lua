--- :CoveExplain, :CoveDocstring, :CoveCommitMessage. Each turns editor state into the
--- server's workspace/executeCommand arguments and shows the answer; the server does the work.
local config = require('cove.config')

local api = vim.api
local M = {}

--- The Cove client for this buffer, or any running Cove client (a commit buffer may have none).
---@param bufnr integer
---@return vim.lsp.Client?
function M.client(bufnr)
  local name = config.values.name
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = name })[1] or vim.lsp.get_clients({ name = name })[1]
  if not client then
    vim.notify("Cove is not running: add vim.lsp.enable('cove') to your config and open a file.", vim.log.levels.WARN)
  end
  return client
end

--- Run a server command and hand its result to `on_result`; errors become one notification.
---@param client vim.lsp.Client
---@param bufnr integer
---@param command string
---@param arguments table
---@param on_result fun(result: any)
function M.execute(client, bufnr, command, arguments, on_result)
  client:request('workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      vim.notify(('Cove: %s failed: %s'):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    on_result(result)
  end, bufnr)
end

--- Call `work` once the model is loaded (requests before that get empty answers).
--- Each status question has its own 5 s limit: a reply can go missing while the server
--- loads its model, and a lost reply must not stall the command.
---@param client vim.lsp.Client
---@param bufnr integer
---@param work fun()
function M.when_ready(client, bufnr, work)
  local deadline = vim.uv.now() + config.values.ready_timeout_ms
  local told = false
  local poll
  local function again(delay)
    if vim.uv.now() > deadline then
      return vim.notify('Cove: the model is still loading; try again in a moment.', vim.log.levels.WARN)
    end
    if not told then
      told = true
      vim.notify('Cove: waiting for the model to load…')
    end
    vim.defer_fn(poll, delay)
  end
  poll = function()
    local settled = false
    vim.defer_fn(function()
      if not settled then
        settled = true
        again(0)
      end
    end, 5000)
    M.execute(client, bufnr, 'cove.status', nil, function(status)
      if settled then
        return
      end
      settled = true
      local state = type(status) == 'table' and status.state or nil
      if state == 'ready' or state == 'indexing' then
        return work()
      end
      if state == 'error' then
        return vim.notify('Cove: the model failed to load: ' .. tostring(status.message), vim.log.levels.ERROR)
      end
      again(500)
    end)
  end
  poll()
end

--- Show Markdown in a scratch buffer (reused) or a float.
---@param lines string[]
---@return integer bufnr
local function show_markdown(lines)
  local view = config.values.explain.view
  if view == 'float' then
    local bufnr = vim.lsp.util.open_floating_preview(lines, 'markdown', { border = 'rounded', focus_id = 'cove-explain' })
    return bufnr
  end
  local bufnr = vim.fn.bufnr('cove://explain')
  if bufnr == -1 then
    bufnr = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(bufnr, 'cove://explain')
    vim.bo[bufnr].filetype = 'markdown'
    vim.bo[bufnr].bufhidden = 'hide'
  end
  vim.bo[bufnr].modifiable = true
  api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  if vim.fn.bufwinid(bufnr) == -1 then
    local here = api.nvim_get_current_win()
    vim.cmd((view == 'split' and 'belowright split' or 'belowright vsplit'))
    api.nvim_win_set_buf(0, bufnr)
    vim.wo.wrap = true
    vim.wo.linebreak = true
    api.nvim_set_current_win(here)
  end
  return bufnr
end

--- :[range]CoveExplain — the lines in range (or the current line), explained in Markdown.
---@param opts? { range?: integer, line1?: integer, line2?: integer }
---@param on_shown? fun(bufnr: integer, markdown: string) for tests and scripts
function M.explain(opts, on_shown)
  opts = opts or {}
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return
  end
  local line1 = (opts.range or 0) > 0 and opts.line1 or api.nvim_win_get_cursor(0)[1]
  local line2 = (opts.range or 0) > 0 and opts.line2 or line1
  local last = api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  -- Whole lines: from the start of line1 to the end of line2, in the client's encoding.
  local range = {
    start = { line = line1 - 1, character = 0 },
    ['end'] = { line = line2 - 1, character = vim.str_utfindex(last, client.offset_encoding) },
  }
  local uri = vim.uri_from_bufnr(bufnr)
  local name = vim.fn.fnamemodify(api.nvim_buf_get_name(bufnr), ':~:.')
  M.when_ready(client, bufnr, function()
    M.execute(client, bufnr, 'cove.explain', { { uri = uri, range = range } }, function(markdown)
      if type(markdown) ~= 'string' or markdown == '' then
        return vim.notify('Cove had no explanation for these lines.')
      end
      local lines = { ('# %s:%d-%d'):format(name, line1, line2), '' }
      vim.list_extend(lines, vim.split(markdown, '\n', { plain = true }))
      local shown = show_markdown(lines)
      if on_shown then
        on_shown(shown, markdown)
      end
    end)
  end)
end

--- :CoveDocstring — the server writes the docstring through workspace/applyEdit.
---@param on_done? fun(result: table?)
function M.docstring(on_done)
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  M.when_ready(client, bufnr, function()
    M.execute(client, bufnr, 'cove.writeDocstring', { { uri = params.textDocument.uri, position = params.position } }, function(result)
      if not (type(result) == 'table' and result.applied) then
        vim.notify('Cove wrote no docstring here: put the cursor inside a function or class.')
      end
      if on_done then
        on_done(result)
      end
    end)
  end)
end

--- The work tree a commit buffer belongs to: .git/COMMIT_EDITMSG's parent, else git's answer.
---@param bufnr integer
---@return string?
function M.repository_of(bufnr)
  local file = api.nvim_buf_get_name(bufnr)
  local dir = file ~= '' and vim.fs.dirname(file) or vim.fn.getcwd()
  if vim.fs.basename(dir) == '.git' then
    return vim.fs.dirname(dir)
  end
  for _, where in ipairs({ dir, vim.fn.getcwd() }) do
    local out = vim.system({ 'git', '-C', where, 'rev-parse', '--show-toplevel' }, { text = true }):wait()
    if out.code == 0 and vim.trim(out.stdout) ~= '' then
      return vim.trim(out.stdout)
    end
  end
end

--- Put the message above the comments of a commit buffer (replacing blank lines there),
--- or below the cursor in any other buffer.
---@param bufnr integer
---@param message string
local function insert_message(bufnr, message)
  local lines = vim.split(vim.trim(message), '\n', { plain = true })
  if vim.bo[bufnr].filetype ~= 'gitcommit' then
    local row = api.nvim_win_get_cursor(0)[1]
    api.nvim_buf_set_lines(bufnr, row, row, false, lines)
    return
  end
  local existing = api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local first_comment = #existing + 1
  for i, line in ipairs(existing) do
    if line:sub(1, 1) == '#' then
      first_comment = i
      break
    end
  end
  local blank = true
  for i = 1, first_comment - 1 do
    blank = blank and vim.trim(existing[i]) == ''
  end
  if first_comment <= #existing then
    table.insert(lines, '')
  end
  -- Blank lines above the comments are replaced; a message already typed stays below ours.
  api.nvim_buf_set_lines(bufnr, 0, blank and first_comment - 1 or 0, false, lines)
  api.nvim_win_set_cursor(0, { 1, 0 })
end

--- :CoveCommitMessage — a message for the staged changes, into this commit buffer.
---@param on_done? fun(message: string?)
function M.commit_message(on_done)
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    return
  end
  local repo = M.repository_of(bufnr)
  if not repo then
    return vim.notify('Cove: this buffer is not in a git repository.', vim.log.levels.WARN)
  end
  M.when_ready(client, bufnr, function()
    M.execute(client, bufnr, 'cove.draftCommitMessage', { { repo = repo } }, function(message)
      if type(message) ~= 'string' or vim.trim(message) == '' then
        vim.notify('Cove: nothing is staged; stage changes to draft a commit message.')
      else
        insert_message(bufnr, message)
      end
      if on_done then
        on_done(message)
      end
    end)
  end)
end

return M
