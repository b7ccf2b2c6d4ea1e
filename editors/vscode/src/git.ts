/**
 * The few parts of the built-in git extension's API (`vscode.git`, API version 1) that
 * Cove uses. The full typings live in the VS Code repository
 * (extensions/git/src/api/git.d.ts); this subset matches them.
 */
import type { Uri } from 'vscode';

export interface InputBox {
  value: string;
}

export interface Repository {
  readonly rootUri: Uri;
  readonly inputBox: InputBox;
}

export interface API {
  readonly repositories: Repository[];
  getRepository(uri: Uri): Repository | null;
}

export interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): API;
}
