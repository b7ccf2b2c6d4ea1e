-- A tiny test harness for headless Neovim: the test body runs as a coroutine on the main
-- loop (started on VimEnter), so typed keys, autocmds, timers and LSP messages are
-- processed exactly as in an interactive session. Load it from a `-u` script:
--
--   local t = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/harness.lua')
--   t.run('name', function() ... end, { timeout_ms = 60000 })
--
-- Exit codes: 0 all steps passed, 1 a step failed, 3 the hard timeout fired.
local M = {}

vim.g.loaded_python3_provider = 0
vim.g.loaded_node_provider = 0
vim.g.loaded_perl_provider = 0
vim.g.loaded_ruby_provider = 0
vim.o.showmode = false -- no '-- INSERT --' in the test output

M.here = vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, 'S').source:sub(2)))
M.plugin_root = vim.fs.dirname(M.here)
M.step_timeout_ms = tonumber(os.getenv("COVE_STEP_TIMEOUT_MS") or "") or 180000

function M.out(text)
  io.stdout:write(text .. '\n')
  io.stdout:flush()
end

--- Put the plugin from this checkout on the runtimepath and load it.
function M.load_plugin()
  -- A `-u` script runs before Neovim turns file type detection on; we need it now.
  vim.cmd('filetype plugin indent on')
  vim.opt.runtimepath:prepend(M.plugin_root)
  vim.cmd.runtime('plugin/cove.lua')
end

--- Yield to the main loop for `ms` milliseconds.
function M.sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    assert(coroutine.resume(co))
  end, ms)
  coroutine.yield()
end

--- Poll `predicate` until it returns a truthy value (returned), or fail after `timeout`.
function M.wait_for(what, predicate, timeout)
  local start = vim.uv.now()
  while true do
    local value = predicate()
    if value then
      return value
    end
    if vim.uv.now() - start > (timeout or M.step_timeout_ms) then
      error('timed out waiting for ' .. what, 2)
    end
    M.sleep(20)
  end
end

function M.check(condition, message)
  if not condition then
    error(message, 2)
  end
  return condition
end

function M.equal(actual, expected, what)
  if not vim.deep_equal(actual, expected) then
    error(('%s: expected %s, got %s'):format(what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

local passed, failed = 0, 0

--- Run one named step, timing it; a failing step stops the run.
function M.step(name, fn)
  local start = vim.uv.hrtime()
  fn()
  passed = passed + 1
  M.out(('ok - %s (%.1f s)'):format(name, (vim.uv.hrtime() - start) / 1e9))
end

--- Type keys: mode 'm' (the default) lets mappings apply, 'n' does not.
function M.feed(keys, mode)
  vim.api.nvim_feedkeys(vim.keycode(keys), mode or 'm', false)
end

function M.mode()
  return vim.api.nvim_get_mode().mode
end

--- Start `main` once Neovim is up; quit with its outcome. A libuv timer is the hard
--- timeout: it fires even when the main loop is stuck.
function M.run(name, main, opts)
  opts = opts or {}
  local hard = assert(vim.uv.new_timer())
  local limit = opts.timeout_ms or 300000
  hard:start(limit, 0, function()
    io.stderr:write(('%s: hard timeout after %d ms\n'):format(name, limit))
    os.exit(3)
  end)
  vim.api.nvim_create_autocmd('VimEnter', {
    once = true,
    -- Scheduled: inside an autocmd, `:edit` would not fire FileType (autocmds do not nest).
    callback = vim.schedule_wrap(function()
      coroutine.wrap(function()
        local started = vim.uv.hrtime()
        local ok, err = xpcall(main, debug.traceback)
        if not ok then
          failed = failed + 1
        end
        M.out(('# %s total: %.1f s'):format(name, (vim.uv.hrtime() - started) / 1e9))
        M.out(('%s: %d passed, %d failed'):format(name, passed, failed))
        hard:stop()
        if ok then
          vim.cmd('qall!')
        else
          io.stderr:write(name .. ': FAILED\n' .. tostring(err) .. '\n')
          if opts.on_failure then
            pcall(opts.on_failure)
          end
          vim.cmd('cquit 1')
        end
      end)()
    end),
  })
end

return M
