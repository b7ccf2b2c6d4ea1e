// A small LSP client for `cove serve`, built on vscode-languageserver-protocol: the layer
// under VS Code's language client. It speaks to the real server over stdio and answers the
// server's own requests (progress tokens, applyEdit, configuration) as VS Code does.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ApplyWorkspaceEditRequest,
  ConfigurationRequest,
  createProtocolConnection,
  LogMessageNotification,
  ShowMessageNotification,
  StreamMessageReader,
  StreamMessageWriter,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageserver-protocol/node';

/**
 * Per-request limit. A cold completion on a small, busy CPU can take tens of seconds; the
 * tests give the server a 60 s deadline, so it answers (perhaps cut short) before this.
 */
export const REQUEST_TIMEOUT_MS = 120_000;

/** The `cove` executable: $COVE_SERVER, else `cove` on PATH. */
export function coveCommand() {
  return process.env.COVE_SERVER || 'cove';
}

/** Reject after `ms` with a message naming what was awaited. */
export function withTimeout(promise, what, ms = REQUEST_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The example source the tests complete in: `return ` at the end of circle_area. (With
 * rectangle_area *below* it, the 0.5B model answers "0.5 * width * height"; above, it
 * answers with the radius.)
 */
export const GEOMETRY = [
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
  '',
].join('\n');

/** A git repository in a temp folder: geometry.py committed, then a staged new function. */
export function makeRepository() {
  const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'cove-node-')));
  const git = (...args) => execFileSync('git', args, { cwd: root, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 'dev@example.com');
  git('config', 'user.name', 'Dev');
  git('config', 'commit.gpgsign', 'false');
  writeFileSync(path.join(root, 'geometry.py'), GEOMETRY);
  git('add', 'geometry.py');
  git('commit', '-q', '-m', 'Add circle and rectangle area helpers');
  writeFileSync(
    path.join(root, 'shapes.py'),
    'def square_area(side):\n    """Return the area of a square."""\n    return side * side\n',
  );
  git('add', 'shapes.py');
  return { root, file: path.join(root, 'geometry.py') };
}

/** Start `cove serve` in `root` and initialize it; returns the client. */
export async function startCove(root, initializationOptions = {}) {
  const child = spawn(coveCommand(), ['serve'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  const client = new CoveClient(child);
  await client.initialize(root, initializationOptions);
  return client;
}

export class CoveClient {
  constructor(child) {
    this.child = child;
    this.stderr = '';
    this.progress = []; // {token, value} in arrival order
    this.titles = new Map();
    this.appliedEdits = [];
    this.logs = [];
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stderr.on('data', (data) => {
      this.stderr += data.toString();
    });
    this.connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    this.listen();
    this.connection.listen();
  }

  /** Answer the server's requests the way VS Code's client does. */
  listen() {
    const c = this.connection;
    c.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
      c.onProgress(WorkDoneProgress.type, params.token, (value) => {
        if (value.kind === 'begin') {
          this.titles.set(params.token, value.title);
        }
        this.progress.push({ token: params.token, title: this.titles.get(params.token), value });
      });
      return null;
    });
    c.onRequest(ApplyWorkspaceEditRequest.type, (params) => {
      this.appliedEdits.push(params.edit);
      return { applied: true };
    });
    c.onRequest(ConfigurationRequest.type, (params) => params.items.map(() => null));
    c.onNotification(LogMessageNotification.type, (params) => this.logs.push(params.message));
    c.onNotification(ShowMessageNotification.type, (params) => this.logs.push(`[show] ${params.message}`));
  }

  async initialize(root, initializationOptions) {
    const rootUri = pathToFileURL(root).href;
    this.initializeResult = await withTimeout(
      this.connection.sendRequest('initialize', {
        processId: process.pid,
        clientInfo: { name: 'cove-node-test', version: '0.1.0' },
        rootUri,
        workspaceFolders: [{ uri: rootUri, name: path.basename(root) }],
        initializationOptions,
        capabilities: {
          window: { workDoneProgress: true, showDocument: { support: true } },
          workspace: { applyEdit: true, configuration: true, workspaceFolders: true },
          general: { positionEncodings: ['utf-16'] },
          textDocument: {
            synchronization: { dynamicRegistration: false },
            inlineCompletion: { dynamicRegistration: false },
            completion: { completionItem: { snippetSupport: false } },
            codeAction: {
              resolveSupport: { properties: ['edit', 'command'] },
              dataSupport: true,
              codeActionLiteralSupport: { codeActionKind: { valueSet: ['', 'refactor', 'refactor.rewrite'] } },
            },
          },
        },
      }),
      'initialize',
    );
    await this.connection.sendNotification('initialized', {});
    return this.initializeResult;
  }

  /** Send a request with the standard timeout; `token` cancels it ($/cancelRequest). */
  request(method, params, token) {
    // vscode-jsonrpc treats a trailing `undefined` as a positional parameter: pass a token only when given.
    const sent = token ? this.connection.sendRequest(method, params, token) : this.connection.sendRequest(method, params);
    return withTimeout(sent, method);
  }

  notify(method, params) {
    return this.connection.sendNotification(method, params);
  }

  /** workspace/executeCommand; `args` undefined sends no `arguments` key at all. */
  executeCommand(command, args, token) {
    const params = args === undefined ? { command } : { command, arguments: args };
    const sent = token
      ? this.connection.sendRequest('workspace/executeCommand', params, token)
      : this.connection.sendRequest('workspace/executeCommand', params);
    return withTimeout(sent, `workspace/executeCommand ${command}`);
  }

  /**
   * Wait until the model is loaded: first the end of the "Cove: loading model" progress
   * (sending nothing meanwhile: a reply written while llama.cpp loads can be lost, see
   * the report), then `cove.status` says ready.
   */
  async waitReady(limitMs = 180_000) {
    const until = Date.now() + limitMs;
    const loaded = () => this.progress.some((p) => p.title === 'Cove: loading model' && p.value.kind === 'end');
    while (!loaded()) {
      if (Date.now() > until) {
        throw new Error(`no end of "Cove: loading model" progress after ${limitMs} ms: ${JSON.stringify(this.progress)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (;;) {
      const status = await this.executeCommand('cove.status');
      if (status?.state === 'ready' || status?.state === 'indexing') {
        return status;
      }
      if (status?.state === 'error') {
        throw new Error(`cove could not load the model: ${status.message}`);
      }
      if (Date.now() > until) {
        throw new Error(`cove was not ready after ${limitMs} ms (state ${status?.state})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  open(file, text, languageId = 'python') {
    const uri = pathToFileURL(file).href;
    this.notify('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
    return uri;
  }

  /** Shut down politely; kill the process if it does not leave. */
  async close() {
    try {
      await withTimeout(this.connection.sendRequest('shutdown'), 'shutdown', 10_000);
      await this.connection.sendNotification('exit');
      await withTimeout(this.exited, 'exit', 10_000);
    } catch {
      this.child.kill('SIGKILL');
    }
    this.connection.dispose();
  }
}
