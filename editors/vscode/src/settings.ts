/**
 * Cove's settings as VS Code holds them, and what reaches the server.
 *
 * Every `cove.<section>.<key>` this extension contributes mirrors one server key one to
 * one, except the editor-only sections below. The list of keys comes from package.json,
 * so adding a key there is all it takes to send it.
 */
import * as vscode from 'vscode';
import type { Executable } from 'vscode-languageclient/node';

/** Sections of `cove.*` that configure the editor side only and are never sent. */
export const CLIENT_SECTIONS: ReadonlySet<string> = new Set(['server', 'trace']);

export type SettingsTree = { [key: string]: unknown };

/** Every `cove.*` key this extension contributes (from its package.json). */
export function contributedKeys(packageJSON: unknown): string[] {
  const properties = (packageJSON as { contributes?: { configuration?: { properties?: object } } })
    ?.contributes?.configuration?.properties ?? {};
  return Object.keys(properties).filter((key) => key.startsWith('cove.'));
}

/** The server's settings tree (camelCase, as `initializationOptions` and `didChangeConfiguration` carry it). */
export function serverSettings(keys: readonly string[], scope?: vscode.ConfigurationScope): SettingsTree {
  const config = vscode.workspace.getConfiguration('cove', scope);
  const tree: SettingsTree = {};
  for (const key of keys) {
    const path = key.split('.').slice(1);
    if (path.length < 2 || CLIENT_SECTIONS.has(path[0])) {
      continue;
    }
    let node = tree;
    for (const part of path.slice(0, -1)) {
      node = (node[part] ??= {}) as SettingsTree;
    }
    // Full values (defaults included): the server re-reads the whole tree on each change,
    // so a key set back to its default must be sent too.
    node[path[path.length - 1]] = config.get(path.join('.'));
  }
  return tree;
}

/** How to start `cove serve`: the configured executable, or `<python> -m lsp.cli serve`. */
export function serverExecutable(): Executable {
  const config = vscode.workspace.getConfiguration('cove');
  const extra = config.get<string[]>('server.args', []);
  const python = config.get<string>('server.pythonPath', '').trim();
  if (python) {
    return { command: python, args: ['-m', 'lsp.cli', 'serve', ...extra] };
  }
  const command = config.get<string>('server.path', 'cove').trim() || 'cove';
  return { command, args: ['serve', ...extra] };
}
