// A stand-in for the `vscode` module, enough to load the compiled extension's modules in
// plain Node: settings resolve like VS Code's (the user's value, else the default from
// package.json), and the status bar item records what it shows.
const Module = require('node:module');
const path = require('node:path');

const packageJSON = require(path.join(__dirname, '..', 'package.json'));
const defaults = Object.fromEntries(
  Object.entries(packageJSON.contributes.configuration.properties).map(([key, spec]) => [key, spec.default]),
);
const userSettings = new Map();

class ThemeColor {
  constructor(id) {
    this.id = id;
  }
}

/** A VS Code event: `fire` calls every listener. */
function emitter() {
  const listeners = new Set();
  const event = (listener) => {
    listeners.add(listener);
    return { dispose: () => listeners.delete(listener) };
  };
  event.fire = (value) => listeners.forEach((listener) => listener(value));
  event.count = () => listeners.size;
  return event;
}

const vscode = {
  workspace: {
    getConfiguration(section) {
      return {
        get(key, fallback) {
          const full = `${section}.${key}`;
          if (userSettings.has(full)) return userSettings.get(full);
          return full in defaults ? defaults[full] : fallback;
        },
      };
    },
  },
  window: {
    onDidChangeTextEditorSelection: emitter(),
    onDidChangeActiveTextEditor: emitter(),
    createStatusBarItem() {
      return { text: '', tooltip: '', shown: false, show() { this.shown = true; }, dispose() {} };
    },
  },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ThemeColor,
};

const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? vscode : load.call(this, request, ...rest);
};

module.exports = { vscode, userSettings, packageJSON };
