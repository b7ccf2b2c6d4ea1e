/**
 * Cove's editor commands. Each one converts editor state to the server's
 * `workspace/executeCommand` arguments and shows the answer; the server does the work.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import type { GitExtension, Repository } from './git';
import type { ServerStatus } from './status';

/** Ask the server to run one of its commands, cancellable from the editor; no `args`, no `arguments` key. */
export async function executeServerCommand<T>(
  client: LanguageClient,
  command: string,
  args?: unknown[],
  token?: vscode.CancellationToken,
): Promise<T> {
  const params = args && args.length > 0 ? { command, arguments: args } : { command };
  return (await client.sendRequest(ExecuteCommandRequest.type, params, token)) as T;
}

/** Resolve with `promise`, or with undefined after `ms` (the request itself is left to finish). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Wait (up to two minutes) until the model is loaded; requests before that get empty answers.
 * Each status question has its own 5 s limit: a reply can go missing while the server
 * loads its model, and a lost reply must not stall the command.
 */
export async function whenReady(client: LanguageClient, token: vscode.CancellationToken): Promise<void> {
  const until = Date.now() + 120_000;
  for (;;) {
    const status = await within(executeServerCommand<ServerStatus | null>(client, 'cove.status', undefined, token), 5000);
    if (status?.state === 'ready' || status?.state === 'indexing') {
      return;
    }
    if (status?.state === 'error') {
      throw new Error(status.message || 'the model failed to load; see Cove: Show log');
    }
    if (token.isCancellationRequested || Date.now() > until) {
      throw new vscode.CancellationError();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Run `work` under a cancellable notification, after the model is ready; errors become messages. */
async function withServer<T>(
  client: LanguageClient | undefined,
  title: string,
  location: vscode.ProgressLocation,
  work: (client: LanguageClient, token: vscode.CancellationToken) => Promise<T>,
): Promise<T | undefined> {
  if (!client || !client.isRunning()) {
    void vscode.window.showWarningMessage('Cove is not running. Run "Cove: Restart" or see "Cove: Show log".');
    return undefined;
  }
  try {
    return await vscode.window.withProgress({ location, title, cancellable: true }, async (_progress, token) => {
      await whenReady(client, token);
      return work(client, token);
    });
  } catch (error) {
    if (!(error instanceof vscode.CancellationError)) {
      void vscode.window.showErrorMessage(`Cove: ${error instanceof Error ? error.message : String(error)}`);
    }
    return undefined;
  }
}

/** Cove: Explain — the selection (or the current line) explained in a Markdown document beside. */
export async function explain(client: LanguageClient | undefined): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('Cove: open a file and select code to explain.');
    return;
  }
  const document = editor.document;
  const selection = editor.selection;
  const range = selection.isEmpty ? document.lineAt(selection.active.line).range : selection;
  const markdown = await withServer(client, 'Cove: explaining…', vscode.ProgressLocation.Notification, (c, token) =>
    executeServerCommand<string | null>(
      c,
      'cove.explain',
      [{ uri: c.code2ProtocolConverter.asUri(document.uri), range: c.code2ProtocolConverter.asRange(range) }],
      token,
    ),
  );
  if (markdown === undefined) {
    return;
  }
  if (!markdown) {
    void vscode.window.showInformationMessage('Cove had no explanation for this code.');
    return;
  }
  await showExplanation(markdown, document.uri, range);
}

/** Show an explanation in a Markdown document beside the code (also used for the Explain code action). */
export async function showExplanation(markdown: string, uri: vscode.Uri, range: vscode.Range): Promise<void> {
  const name = vscode.workspace.asRelativePath(uri);
  const lines = `${range.start.line + 1}-${range.end.line + 1}`;
  const shown = await vscode.workspace.openTextDocument({
    language: 'markdown',
    content: `# ${name}:${lines}\n\n${markdown}\n`,
  });
  await vscode.window.showTextDocument(shown, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
}

/** Cove: Write docstring — the server edits the file through `workspace/applyEdit`. */
export async function writeDocstring(client: LanguageClient | undefined): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('Cove: put the cursor in a function or class first.');
    return;
  }
  const { document, selection } = editor;
  const result = await withServer(client, 'Cove: writing docstring…', vscode.ProgressLocation.Notification, (c, token) =>
    executeServerCommand<{ applied?: boolean } | null>(
      c,
      'cove.writeDocstring',
      [{ uri: c.code2ProtocolConverter.asUri(document.uri), position: c.code2ProtocolConverter.asPosition(selection.active) }],
      token,
    ),
  );
  if (result !== undefined && !result?.applied) {
    void vscode.window.showInformationMessage('Cove wrote no docstring here: put the cursor inside a function or class.');
  }
}

/** The repository a commit message is for: the one clicked in Source Control, the active file's, or the only one. */
async function pickRepository(arg: unknown): Promise<Repository | undefined> {
  const extension = vscode.extensions.getExtension<GitExtension>('vscode.git');
  if (!extension) {
    void vscode.window.showErrorMessage('Cove: the built-in Git extension is disabled; enable it to draft commit messages.');
    return undefined;
  }
  const git = (extension.isActive ? extension.exports : await extension.activate()).getAPI(1);
  const rootUri = (arg as { rootUri?: vscode.Uri } | undefined)?.rootUri;
  const activeUri = vscode.window.activeTextEditor?.document.uri;
  const repository =
    (rootUri && git.getRepository(rootUri)) || (activeUri && git.getRepository(activeUri)) || git.repositories[0];
  if (!repository) {
    void vscode.window.showInformationMessage('Cove: open a folder under git to draft a commit message.');
  }
  return repository ?? undefined;
}

/** Cove: Draft commit message — from the staged diff, into the Source Control input box. */
export async function draftCommitMessage(client: LanguageClient | undefined, arg?: unknown): Promise<void> {
  const repository = await pickRepository(arg);
  if (!repository) {
    return;
  }
  const message = await withServer(client, 'Cove: drafting commit message…', vscode.ProgressLocation.SourceControl, (c, token) =>
    executeServerCommand<string | null>(c, 'cove.draftCommitMessage', [{ repo: repository.rootUri.fsPath }], token),
  );
  if (message === undefined) {
    return;
  }
  if (!message) {
    void vscode.window.showInformationMessage('Cove: nothing is staged; stage changes to draft a commit message.');
    return;
  }
  repository.inputBox.value = message;
  await vscode.commands.executeCommand('workbench.view.scm');
}
