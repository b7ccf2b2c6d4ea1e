// End-to-end: the real `cove serve` with the real embedded model, driven through
// vscode-languageserver-protocol exactly as VS Code's client drives it.
// Run: COVE_SERVER=/path/to/cove node --test editors/node-test/server.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CancellationTokenSource, LSPErrorCodes, ResponseError } from 'vscode-languageserver-protocol/node';
import { GEOMETRY, makeRepository, startCove, withTimeout } from './cove-client.mjs';

const RETURN_LINE = 9; // "    return " in circle_area
const RETURN_END = { line: RETURN_LINE, character: '    return '.length };
const RECTANGLE_DEF = 3; // "def rectangle_area(width, height):"

/** Time one step and log it, so the test output shows where the seconds go. */
async function timed(label, work) {
  const start = performance.now();
  try {
    return await work();
  } finally {
    console.log(`# ${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
}

describe('cove serve through vscode-languageserver-protocol', { timeout: 600_000 }, () => {
  let cove;
  let repo;
  let uri;

  before(async () => {
    repo = makeRepository();
    cove = await timed('start + initialize', () => startCove(repo.root, { cove: { generation: { maxTokens: 48, deadlineMs: 60000 } } }));
    await timed('model ready', () => cove.waitReady());
    uri = cove.open(repo.file, GEOMETRY);
  });

  after(async () => {
    if (cove) {
      await cove.close();
      if (process.env.COVE_TEST_VERBOSE) {
        console.log(cove.stderr);
      }
    }
  });

  test('advertises the contract capabilities and commands', () => {
    const caps = cove.initializeResult.capabilities;
    assert.ok(caps.inlineCompletionProvider, 'inlineCompletionProvider');
    assert.ok(caps.completionProvider, 'completionProvider');
    assert.equal(caps.codeActionProvider?.resolveProvider, true, 'codeAction/resolve');
    for (const command of ['cove.accepted', 'cove.explain', 'cove.writeDocstring', 'cove.draftCommitMessage', 'cove.status']) {
      assert.ok(caps.executeCommandProvider?.commands?.includes(command), `executeCommand ${command}`);
    }
  });

  test('cove.status answers with `arguments: []`, as VS Code sends for a command without arguments', async () => {
    const status = await cove.executeCommand('cove.status', []);
    assert.equal(status?.state, 'ready', JSON.stringify(status));
  });

  test('reports the model load with $/progress begin and end', () => {
    const loading = cove.progress.filter((p) => p.title === 'Cove: loading model');
    assert.equal(loading[0]?.value.kind, 'begin', JSON.stringify(cove.progress));
    assert.equal(loading.at(-1)?.value.kind, 'end', JSON.stringify(cove.progress));
  });

  test('inline completion: the model completes the return line, and the accept command runs', async () => {
    const list = await timed('inlineCompletion (cold)', () =>
      cove.request('textDocument/inlineCompletion', {
        textDocument: { uri },
        position: RETURN_END,
        context: { triggerKind: 2 },
      }),
    );
    const items = Array.isArray(list) ? list : list.items;
    assert.ok(items.length >= 1, `no suggestion: ${JSON.stringify(list)}`);
    const item = items[0];
    const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
    console.log(`# suggestion: ${JSON.stringify(text)}`);
    assert.match(text, /radius/, 'the area of a circle uses its radius');
    assert.equal(item.command?.command, 'cove.accepted');
    const accepted = await cove.executeCommand(item.command.command, item.command.arguments);
    assert.equal(typeof accepted, 'object');

    // The same position through the menu fallback every client has.
    const menu = await timed('completion (menu)', () =>
      cove.request('textDocument/completion', { textDocument: { uri }, position: RETURN_END }),
    );
    const menuItems = Array.isArray(menu) ? menu : menu.items;
    // Asked by hand (no trigger context): the suggestion, then up to 2 distinct alternatives.
    assert.ok(menuItems.length >= 1 && menuItems.length <= 3, JSON.stringify(menu));
    assert.equal(new Set(menuItems.map((i) => i.textEdit.newText)).size, menuItems.length);
    assert.match(menuItems[0].textEdit.newText, /radius/);
    assert.equal(menuItems[0].label, menuItems[0].textEdit.newText.split('\n')[0].trim().slice(0, 80));
  });

  test('inline completion for a document the client never opened is an empty answer', async () => {
    const list = await cove.request('textDocument/inlineCompletion', {
      textDocument: { uri: `${uri}.missing.py` },
      position: { line: 0, character: 0 },
      context: { triggerKind: 1 },
    });
    const items = Array.isArray(list) ? list : list?.items ?? [];
    assert.deepEqual(items, []);
  });

  test('code actions: Explain and Write docstring are offered, resolve yields the docstring edit', async () => {
    const range = { start: { line: RECTANGLE_DEF, character: 4 }, end: { line: RECTANGLE_DEF, character: 4 } };
    const actions = await cove.request('textDocument/codeAction', {
      textDocument: { uri },
      range,
      context: { diagnostics: [], triggerKind: 1 },
    });
    const byTitle = new Map(actions.map((a) => [a.title, a]));
    assert.equal(byTitle.get('Cove: Explain')?.kind, 'refactor.rewrite.cove.explain', JSON.stringify(actions));
    const docstring = byTitle.get('Cove: Write docstring');
    assert.equal(docstring?.kind, 'refactor.rewrite.cove.docstring', JSON.stringify(actions));

    const before = cove.appliedEdits.length;
    const resolved = await timed('codeAction/resolve (docstring)', () => cove.request('codeAction/resolve', docstring));
    let edit = resolved.edit;
    if (!edit && resolved.command) {
      // A command-backed action: run it as VS Code would, and read the edit it applies.
      await timed('docstring command', () => cove.executeCommand(resolved.command.command, resolved.command.arguments));
      edit = cove.appliedEdits[before];
    }
    assert.ok(edit, `resolve gave neither an edit nor a command that applied one: ${JSON.stringify(resolved)}`);
    const texts = Object.values(edit.changes ?? {}).flat().concat((edit.documentChanges ?? []).flatMap((d) => d.edits ?? []));
    assert.ok(texts.some((e) => e.newText.includes('"""')), JSON.stringify(edit));
    assert.ok(
      texts.every((e) => e.range.start.line >= RECTANGLE_DEF && e.range.start.line <= RECTANGLE_DEF + 1),
      'the docstring goes into rectangle_area',
    );
  });

  test('executeCommand cove.explain returns Markdown about the selected code', async () => {
    const range = { start: { line: 7, character: 0 }, end: { line: RETURN_LINE, character: 11 } };
    const markdown = await timed('cove.explain', () => cove.executeCommand('cove.explain', [{ uri, range }]));
    assert.equal(typeof markdown, 'string');
    assert.ok(markdown.trim().length > 20, JSON.stringify(markdown));
    console.log(`# explain: ${JSON.stringify(markdown.slice(0, 160))}`);
  });

  test('executeCommand cove.writeDocstring applies a docstring edit through workspace/applyEdit', async () => {
    const before = cove.appliedEdits.length;
    const result = await timed('cove.writeDocstring', () =>
      cove.executeCommand('cove.writeDocstring', [{ uri, position: { line: RECTANGLE_DEF + 1, character: 8 } }]),
    );
    assert.equal(result?.applied, true, JSON.stringify(result));
    const edit = cove.appliedEdits[before];
    assert.ok(edit, 'the server sent workspace/applyEdit');
    assert.match(JSON.stringify(edit), /\\"\\"\\"/);
  });

  test('executeCommand cove.draftCommitMessage drafts from the staged diff', async () => {
    const message = await timed('cove.draftCommitMessage', () =>
      cove.executeCommand('cove.draftCommitMessage', [{ repo: repo.root }]),
    );
    assert.equal(typeof message, 'string');
    const subject = message.split('\n')[0];
    console.log(`# commit message: ${JSON.stringify(message.slice(0, 160))}`);
    assert.ok(subject.trim().length > 0, JSON.stringify(message));
    assert.ok(!subject.startsWith('#'), 'the subject is not a git comment');
  });

  test('cancellation: a cancelled inline completion settles, and the server keeps answering', async () => {
    // A new line the cache has not seen, so the request really reaches the model.
    cove.notify('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 10, character: 0 }, end: { line: 10, character: 0 } }, text: '\ndef triangle_area(base, height):\n    ' }],
    });
    const source = new CancellationTokenSource();
    const pending = cove.request(
      'textDocument/inlineCompletion',
      { textDocument: { uri }, position: { line: 12, character: 4 }, context: { triggerKind: 2 } },
      source.token,
    );
    setTimeout(() => source.cancel(), 20);
    const outcome = await timed('cancelled inlineCompletion', () =>
      pending.then(
        (value) => ({ value }),
        (error) => ({ error }),
      ),
    );
    console.log(`# cancelled request answered: ${outcome.error ? `error ${outcome.error.code}` : JSON.stringify(outcome.value)}`);
    if (outcome.error) {
      assert.ok(outcome.error instanceof ResponseError, String(outcome.error));
      assert.equal(outcome.error.code, LSPErrorCodes.RequestCancelled, String(outcome.error));
    } else {
      const items = Array.isArray(outcome.value) ? outcome.value : outcome.value?.items ?? [];
      assert.deepEqual(items, [], 'a cancelled request answers with nothing');
    }
    const status = await timed('cove.status after cancel', () => cove.executeCommand('cove.status'));
    assert.equal(status.state, 'ready');
  });
});

describe('cove serve while the model loads', { timeout: 300_000 }, () => {
  test('every request sent while the model loads gets an answer', async () => {
    const repo = makeRepository();
    const cove = await startCove(repo.root, {});
    try {
      const loaded = () => cove.progress.some((p) => p.title === 'Cove: loading model' && p.value.kind === 'end');
      const pending = [];
      const until = Date.now() + 180_000;
      while (!loaded() && Date.now() < until) {
        // Short timeouts: a lost reply must fail the test, not stall it.
        pending.push(withTimeout(cove.executeCommand('cove.status'), 'cove.status during load', 15_000));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(loaded(), 'the load ended');
      const outcomes = await Promise.allSettled(pending);
      const lost = outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason));
      console.log(`# status requests during load: ${pending.length}, unanswered: ${lost.length}`);
      assert.deepEqual(lost, [], `${lost.length} of ${pending.length} requests sent during the load got no answer`);
    } finally {
      await cove.close();
    }
  });
});
