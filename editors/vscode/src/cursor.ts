/**
 * Where the cursor rests, for the server's prefetch: `cove/cursor` once the cursor has not
 * moved for CURSOR_REST_MS, and at once when an editor becomes active (a file just opened:
 * its first suggestion is asked where the cursor already is). An idle model then evaluates
 * that prompt; a real request drops the work. Optional for the server: nothing answers.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';

export const CURSOR = 'cove/cursor';
export const CURSOR_REST_MS = 400;

/** The notification's params: the document as the client names it, the cursor (UTF-16). */
export function cursorParams(uri: string, position: { line: number; character: number }) {
  return { textDocument: { uri }, position: { line: position.line, character: position.character } };
}

export class CursorReporter implements vscode.Disposable {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners: vscode.Disposable[];

  constructor(private readonly client: () => LanguageClient | undefined) {
    this.listeners = [
      vscode.window.onDidChangeTextEditorSelection((event) => this.later(event.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((editor) => this.now(editor)),
    ];
  }

  /** Report `editor`'s cursor after it has rested (a newer move restarts the wait). */
  later(editor: vscode.TextEditor): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.now(editor), CURSOR_REST_MS);
  }

  /** Report `editor`'s cursor now (no editor, a stopped client or a foreign scheme: nothing). */
  now(editor: vscode.TextEditor | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client();
    if (!editor || !client?.isRunning() || !['file', 'untitled'].includes(editor.document.uri.scheme)) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    client.sendNotification(CURSOR, cursorParams(uri, editor.selection.active)).catch(() => undefined);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.listeners.forEach((listener) => listener.dispose());
  }
}
