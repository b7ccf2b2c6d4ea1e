// Unit tests of the compiled extension (out/) with a stand-in `vscode` module:
// the settings that reach the server, the server command line, the status bar.
// Run after `tsc -p editors/vscode`: node --test editors/vscode/test/
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { userSettings, packageJSON, vscode } = require('./vscode-stub.cjs');
const settings = require('../out/settings.js');
const status = require('../out/status.js');
const cursor = require('../out/cursor.js');

const keys = settings.contributedKeys(packageJSON);

beforeEach(() => userSettings.clear());

test('the server gets every cove.<section>.<key> setting, nested, and no editor-only key', () => {
  const tree = settings.serverSettings(keys);
  assert.deepEqual(Object.keys(tree).sort(), ['assist', 'backend', 'budget', 'commit', 'context', 'features', 'generation', 'model']);
  assert.equal(tree.generation.maxTokens, packageJSON.contributes.configuration.properties['cove.generation.maxTokens'].default);
  assert.deepEqual(tree.features.disabledLanguages, []);
  const leaves = Object.values(tree).reduce((n, section) => n + Object.keys(section).length, 0);
  const serverKeys = keys.filter((k) => !k.startsWith('cove.server.') && !k.startsWith('cove.trace.'));
  assert.equal(leaves, serverKeys.length);
});

test("the user's values reach the server", () => {
  userSettings.set('cove.generation.maxTokens', 96);
  userSettings.set('cove.features.disabledLanguages', ['markdown']);
  const tree = settings.serverSettings(keys);
  assert.equal(tree.generation.maxTokens, 96);
  assert.deepEqual(tree.features.disabledLanguages, ['markdown']);
});

test('the server command: cove serve, a configured path, or python -m lsp.cli serve', () => {
  assert.deepEqual(settings.serverExecutable(), { command: 'cove', args: ['serve'] });
  userSettings.set('cove.server.path', '/opt/venv/bin/cove');
  userSettings.set('cove.server.args', ['-v']);
  assert.deepEqual(settings.serverExecutable(), { command: '/opt/venv/bin/cove', args: ['serve', '-v'] });
  userSettings.set('cove.server.pythonPath', '/opt/venv/bin/python');
  assert.deepEqual(settings.serverExecutable(), { command: '/opt/venv/bin/python', args: ['-m', 'lsp.cli', 'serve', '-v'] });
});

test("the extension's command ids do not collide with the server's (the client registers those)", () => {
  const server = ['cove.accepted', 'cove.explain', 'cove.writeDocstring', 'cove.draftCommitMessage', 'cove.status'];
  const ours = packageJSON.contributes.commands.map((c) => c.command);
  assert.deepEqual(ours.filter((id) => server.includes(id)), []);
  assert.deepEqual(
    packageJSON.contributes.commands.map((c) => `${c.category}: ${c.title}`),
    ['Cove: Explain', 'Cove: Write docstring', 'Cove: Draft commit message', 'Cove: Show log', 'Cove: Restart'],
  );
});

test('the status bar follows $/progress, then what cove.status says', () => {
  const item = new status.StatusItem('cove.client.showLog');
  assert.match(item['item'].text, /Cove: starting/);
  assert.equal(item.onProgress('t1', { kind: 'begin', title: 'Cove: loading model' }), false);
  assert.match(item['item'].text, /Cove: loading model/);
  item.onProgress('t2', { kind: 'begin', title: 'Cove: indexing', percentage: 0 });
  item.onProgress('t2', { kind: 'report', percentage: 40 });
  assert.match(item['item'].text, /Cove: indexing 40%/);
  assert.equal(item.onProgress('t2', { kind: 'end' }), true, 'an ended phase asks for cove.status');
  assert.equal(item.onProgress('other', { kind: 'begin', title: 'Something else' }), false);
  item.fromServer({ state: 'ready', model: 'qwen', template: 'qwen2.5-coder', message: '' });
  assert.equal(item['item'].text, '$(check) Cove');
  assert.match(item['item'].tooltip, /qwen/);
  item.fromServer({ state: 'error', message: 'model missing' });
  assert.match(item['item'].text, /Cove: error/);
  assert.equal(item['item'].backgroundColor.id, 'statusBarItem.errorBackground');
});

test('cove/cursor: once the cursor rests (the last position), and at once for a newly active editor', async () => {
  const sent = [];
  const client = {
    isRunning: () => true,
    code2ProtocolConverter: { asUri: (uri) => uri.text },
    sendNotification: (method, params) => {
      sent.push([method, params]);
      return Promise.resolve();
    },
  };
  const editor = (text, line, character, scheme = 'file') => ({
    document: { uri: { scheme, text } },
    selection: { active: { line, character } },
  });
  const reporter = new cursor.CursorReporter(() => client);
  vscode.window.onDidChangeTextEditorSelection.fire({ textEditor: editor('file:///a.py', 1, 2) });
  vscode.window.onDidChangeTextEditorSelection.fire({ textEditor: editor('file:///a.py', 3, 4) });
  assert.deepEqual(sent, []);
  await new Promise((resolve) => setTimeout(resolve, cursor.CURSOR_REST_MS + 100));
  assert.deepEqual(sent, [['cove/cursor', { textDocument: { uri: 'file:///a.py' }, position: { line: 3, character: 4 } }]]);
  vscode.window.onDidChangeActiveTextEditor.fire(editor('file:///b.py', 7, 0));
  assert.deepEqual(sent[1], ['cove/cursor', { textDocument: { uri: 'file:///b.py' }, position: { line: 7, character: 0 } }]);
  vscode.window.onDidChangeActiveTextEditor.fire(editor('output:log', 0, 0, 'output'));
  vscode.window.onDidChangeActiveTextEditor.fire(undefined);
  assert.equal(sent.length, 2, 'no editor, or not a file: nothing sent');
  reporter.dispose();
  assert.equal(vscode.window.onDidChangeTextEditorSelection.count(), 0, 'the listeners are removed');
});
