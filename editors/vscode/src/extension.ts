/**
 * Cove for VS Code: starts `cove serve`, and leaves the work to vscode-languageclient
 * (inline completions, completions, code actions) and to the server (everything else).
 */
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  ResponseError,
  State,
  type LanguageClientOptions,
  type Range,
} from 'vscode-languageclient/node';
import { CursorReporter } from './cursor';
import { draftCommitMessage, executeServerCommand, explain, showExplanation, within, writeDocstring } from './commands';
import { contributedKeys, serverExecutable, serverSettings } from './settings';
import { StatusItem, type ServerStatus } from './status';

class Controller implements vscode.Disposable {
  client: LanguageClient | undefined;
  readonly log = vscode.window.createOutputChannel('Cove', { log: true });
  readonly status = new StatusItem('cove.client.showLog');
  // Where the cursor rests (cove/cursor), for the server's prefetch.
  readonly cursor = new CursorReporter(() => this.client);
  private readonly keys: string[];

  constructor(context: vscode.ExtensionContext) {
    this.keys = contributedKeys(context.extension.packageJSON);
  }

  /** Start the server; a failure to start shows one message with what to do. */
  async start(): Promise<void> {
    this.status.set('starting');
    const executable = serverExecutable();
    const client = new LanguageClient('cove', 'Cove', { run: executable, debug: executable }, this.clientOptions());
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped && this.status.state !== 'error') {
        this.status.set('stopped');
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.status.set('error', 'server did not start');
      this.log.error(`Cove could not start "${executable.command} ${(executable.args ?? []).join(' ')}": ${reason}`);
      const choice = await vscode.window.showErrorMessage(
        `Cove could not start "${executable.command}": ${reason}. Set "cove.server.path" (or "cove.server.pythonPath") to a Cove installation.`,
        'Open Settings',
        'Show Log',
      );
      if (choice === 'Open Settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'cove.server');
      } else if (choice === 'Show Log') {
        this.log.show();
      }
      return;
    }
    this.cursor.now(vscode.window.activeTextEditor); // the file already open at start
    await this.refreshStatus();
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.log,
      initializationOptions: serverSettings(this.keys),
      middleware: {
        handleWorkDoneProgress: (token, params, next) => {
          if (this.status.onProgress(token, params)) {
            void this.refreshStatus();
          }
          next(token, params);
        },
        // The Explain code action runs `cove.explain`, whose answer is Markdown: show it.
        executeCommand: async (command, args, next) => {
          const result = await next(command, args);
          const target = args?.[0] as { uri?: string; range?: Range } | undefined;
          if (command === 'cove.explain' && typeof result === 'string' && result && target?.uri && target.range && this.client) {
            const converter = this.client.protocol2CodeConverter;
            await showExplanation(result, converter.asUri(target.uri), converter.asRange(target.range));
          }
          return result;
        },
        workspace: {
          // Answer the server's pull for `cove` without the editor-only keys.
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (answer instanceof ResponseError || !Array.isArray(answer)) {
              return answer;
            }
            return params.items.map((item, index) => (item.section === 'cove' ? serverSettings(this.keys) : answer[index]));
          },
        },
      },
    };
  }

  /** Ask the server where it stands (after start and after each progress phase ends). */
  async refreshStatus(): Promise<void> {
    if (!this.client?.isRunning()) {
      return;
    }
    try {
      // Bounded: a reply can go missing while the model loads; the load's progress end asks again.
      this.status.fromServer(await within(executeServerCommand<ServerStatus | null>(this.client, 'cove.status'), 5000));
    } catch (error) {
      this.log.warn(`cove.status failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Push changed settings to the running server, or offer a restart when the server command changed. */
  async onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (event.affectsConfiguration('cove.server')) {
      const choice = await vscode.window.showInformationMessage('Cove: the server command changed.', 'Restart');
      if (choice === 'Restart') {
        await this.restart();
      }
      return;
    }
    if (event.affectsConfiguration('cove') && this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { cove: serverSettings(this.keys) },
      });
    }
  }

  /** Stop and start with the current settings (a new server command included). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (error) {
        this.log.warn(`stopping Cove: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  dispose(): void {
    void this.stop();
    this.cursor.dispose();
    this.status.dispose();
    this.log.dispose();
  }
}

let controller: Controller | undefined;

/** Entry point: start the server and register Cove's commands. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const current = new Controller(context);
  controller = current;
  context.subscriptions.push(
    current,
    vscode.commands.registerCommand('cove.client.explain', () => explain(current.client)),
    vscode.commands.registerCommand('cove.client.writeDocstring', () => writeDocstring(current.client)),
    vscode.commands.registerCommand('cove.client.draftCommitMessage', (arg?: unknown) =>
      draftCommitMessage(current.client, arg),
    ),
    vscode.commands.registerCommand('cove.client.showLog', () => current.log.show()),
    vscode.commands.registerCommand('cove.client.restart', () => current.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => current.onConfigurationChanged(event)),
  );
  await current.start();
}

/** Stop the server with the editor. */
export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
