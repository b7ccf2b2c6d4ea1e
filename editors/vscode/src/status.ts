/**
 * The status bar item: model loading / indexing / ready / error, fed by the server's
 * `$/progress` and its `cove.status` command.
 */
import * as vscode from 'vscode';
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageclient';

export type CoveState = 'starting' | 'loading' | 'indexing' | 'ready' | 'error' | 'stopped';

/** What `workspace/executeCommand` `cove.status` answers. */
export interface ServerStatus {
  state: 'loading' | 'indexing' | 'ready' | 'error';
  model?: string;
  template?: string;
  message?: string;
}

type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

const LOOK: Record<CoveState, { icon: string; label: string }> = {
  starting: { icon: '$(loading~spin)', label: 'starting' },
  loading: { icon: '$(loading~spin)', label: 'loading model' },
  indexing: { icon: '$(sync~spin)', label: 'indexing' },
  ready: { icon: '$(check)', label: 'ready' },
  error: { icon: '$(error)', label: 'error' },
  stopped: { icon: '$(circle-slash)', label: 'stopped' },
};

/** Which state a progress title stands for ("Cove: loading model", "Cove: indexing"). */
export function stateOfTitle(title: string): CoveState | undefined {
  if (/index/i.test(title)) {
    return 'indexing';
  }
  if (/load/i.test(title)) {
    return 'loading';
  }
  return undefined;
}

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly titles = new Map<ProgressToken, string>();
  state: CoveState = 'starting';

  constructor(clickCommand: string) {
    this.item = vscode.window.createStatusBarItem('cove.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Cove';
    this.item.command = clickCommand;
    this.set('starting');
    this.item.show();
  }

  /** Show a state; `detail` goes after the label and into the tooltip. */
  set(state: CoveState, detail?: string): void {
    this.state = state;
    const look = LOOK[state];
    const text = state === 'ready' ? `${look.icon} Cove` : `${look.icon} Cove: ${look.label}`;
    this.item.text = detail && state !== 'ready' ? `${text} ${detail}` : text;
    this.item.tooltip = `Cove — ${look.label}${detail ? `\n${detail}` : ''}\nClick to show the log.`;
    this.item.backgroundColor =
      state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  /** Follow one `$/progress` message; returns true when a Cove phase just ended. */
  onProgress(token: ProgressToken, value: Progress): boolean {
    if (value.kind === 'begin') {
      this.titles.set(token, value.title);
    }
    const state = stateOfTitle(this.titles.get(token) ?? '');
    if (state === undefined) {
      return false;
    }
    if (value.kind === 'end') {
      this.titles.delete(token);
      return true;
    }
    const percent = value.percentage !== undefined ? `${value.percentage}%` : '';
    this.set(state, [percent, value.message ?? ''].filter(Boolean).join(' '));
    return false;
  }

  /** Show what `cove.status` answered. */
  fromServer(status: ServerStatus | null | undefined): void {
    if (!status || !(status.state in LOOK)) {
      return;
    }
    const detail = status.state === 'ready' ? [status.model, status.template].filter(Boolean).join(' · ') : status.message;
    this.set(status.state, detail);
    if (status.state === 'ready' && detail) {
      this.item.tooltip = `Cove — ready\n${detail}\nClick to show the log.`;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
