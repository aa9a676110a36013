'use strict';
// The package's TypeScript declarations (bindings/node/index.d.ts,
// nsqjs.d.ts): tests/node/typed/example.ts, a program over the whole API
// with `@ts-expect-error` lines for wrong usage, must type-check with the
// pinned TypeScript; and the declarations must name exactly what the
// JavaScript exports, with the same public methods and properties.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const ROOT = path.resolve(__dirname, '..', '..');
const PKG = path.join(ROOT, 'bindings', 'node');
const TS_DIR = path.join(PKG, 'node_modules', 'typescript');

function typescript() {
  assert.ok(fs.existsSync(path.join(TS_DIR, 'package.json')),
    'typescript is not installed: cd bindings/node && npm install --no-audit --no-fund');
  const { version } = require(path.join(TS_DIR, 'package.json'));
  assert.equal(version, require(path.join(PKG, 'package.json')).devDependencies.typescript);
  return require(TS_DIR);
}

test('tsc --noEmit -p tests/node/typed passes without any output', () => {
  typescript();
  const result = spawnSync(process.execPath,
    [path.join(TS_DIR, 'bin', 'tsc'), '--noEmit', '--pretty', 'false', '-p', 'tests/node/typed'],
    { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.error, undefined);
  assert.equal(`${result.stdout}${result.stderr}`, '');
  assert.equal(result.status, 0);
});

test('package.json points "types" and each export\'s "types" at the declarations', () => {
  const pkg = require(path.join(PKG, 'package.json'));
  assert.equal(pkg.types, 'index.d.ts');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.equal(pkg.exports['./nsqjs'].types, './nsqjs.d.ts');
  for (const file of ['index.d.ts', 'nsqjs.d.ts']) {
    assert.ok(pkg.files.includes(file), `${file} is packed`);
    assert.ok(fs.existsSync(path.join(PKG, file)), file);
  }
});

/** { exportName: { kind, members: Set of public instance member names,
 * statics: Set } } of a declaration file, through the compiler's API. */
function declared(ts, file) {
  const program = ts.createProgram([file], { strict: true, types: ['node'], typeRoots: [path.join(PKG, 'node_modules', '@types')] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const out = {};
  for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(source))) {
    if (symbol.flags & ts.SymbolFlags.Function) {
      out[symbol.name] = { kind: 'function' };
    } else if (symbol.flags & ts.SymbolFlags.Class) {
      const own = (table) => new Set([...(table || new Map()).keys()]
        .filter((name) => name !== '__constructor' && name !== 'prototype'));
      // the members of the class and of its declared bases in this file
      const members = own(symbol.members);
      const statics = own(symbol.exports);
      let base = checker.getDeclaredTypeOfSymbol(symbol);
      for (;;) {
        const bases = checker.getBaseTypes(base);
        if (bases.length === 0) break;
        base = bases[0];
        const decl = base.symbol && base.symbol.declarations && base.symbol.declarations[0];
        if (!decl || decl.getSourceFile() !== source) break;
        for (const name of own(base.symbol.members)) members.add(name);
      }
      out[symbol.name] = { kind: 'class', members, statics };
    }
  }
  return out;
}

/** The public (not '_'-prefixed) names of an object and its prototypes,
 * up to (not including) stop. */
function publicNames(object, stop) {
  const names = new Set();
  for (let o = object; o && o !== stop; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (!name.startsWith('_') && name !== 'constructor') names.add(name);
    }
  }
  return names;
}

/** A fresh instance of each exported class (none starts any I/O). */
function instances(gnsq, nsqjs) {
  const message = new gnsq.Message(null, 0, 0, Buffer.alloc(16), Buffer.from('{}'), 0n, 1);
  return {
    index: {
      Producer: new gnsq.Producer(['127.0.0.1:1']),
      Consumer: new gnsq.Consumer('t', 'c', { nsqdTcpAddresses: ['127.0.0.1:1'] }),
      Message: message,
      RequeueMessage: new gnsq.RequeueMessage(false),
      NsqdHTTPClient: new gnsq.NsqdHTTPClient(),
      LookupdClient: new gnsq.LookupdClient(),
      NSQError: new gnsq.NSQError('m', 'GNSQ_E_CLOSED', -3),
      NSQServerError: new gnsq.NSQServerError('m', 'E_INVALID', -7),
      NoConnectionsError: new gnsq.NoConnectionsError('m', 'GNSQ_E_NO_CONNECTIONS', -5),
      ConnectionError: new gnsq.ConnectionError('m', 'GNSQ_E_CONNECTION', -6),
      ClosedError: new gnsq.ClosedError('m', 'GNSQ_E_CLOSED', -3),
      InvalidArgumentError: new gnsq.InvalidArgumentError('m', 'GNSQ_E_INVALID_ARG', -1),
      HTTPError: new gnsq.HTTPError('m', 'TOPIC_NOT_FOUND', -12, 404),
    },
    nsqjs: {
      Reader: new nsqjs.Reader('t', 'c', { nsqdTCPAddresses: '127.0.0.1:1' }),
      Writer: new nsqjs.Writer('127.0.0.1', 1),
      Message: new nsqjs.Message(message, 90000),
    },
  };
}

test('the declarations name exactly the exports, public members and statics of the JavaScript', () => {
  const ts = typescript();
  const gnsq = require(PKG);
  const nsqjs = require(path.join(PKG, 'nsqjs.js'));
  const made = instances(gnsq, nsqjs);
  const { EventEmitter } = require('node:events');
  for (const [name, runtime, file] of [['index', gnsq, 'index.d.ts'], ['nsqjs', nsqjs, 'nsqjs.d.ts']]) {
    const decl = declared(ts, path.join(PKG, file));
    assert.deepEqual(Object.keys(decl).sort(), Object.keys(runtime).sort(), `${file}: exports`);
    for (const [exported, d] of Object.entries(decl)) {
      const value = runtime[exported];
      if (d.kind === 'function') {
        assert.equal(typeof value, 'function', `${file}: ${exported}`);
        continue;
      }
      const instance = made[name][exported];
      assert.ok(instance instanceof value, `${file}: an instance of ${exported}`);
      const stop = instance instanceof EventEmitter ? EventEmitter.prototype
        : instance instanceof Error ? Error.prototype : Object.prototype;
      const actual = publicNames(instance, stop);
      if (instance instanceof Error) actual.add('name').add('message').delete('stack'); // Error's own
      const expected = new Set(d.members);
      // EventEmitter's methods whose listener types the declarations narrow
      for (const m of ['on', 'once', 'off', 'addListener', 'removeListener']) {
        if (instance instanceof EventEmitter && expected.has(m)) expected.delete(m);
      }
      if (instance instanceof Error) expected.add('name').add('message');
      assert.deepEqual([...expected].sort(), [...actual].sort(), `${file}: members of ${exported}`);
      const statics = new Set(Object.getOwnPropertyNames(value)
        .filter((s) => !['length', 'name', 'prototype'].includes(s) && !s.startsWith('_')));
      assert.deepEqual([...d.statics].sort(), [...statics].sort(), `${file}: statics of ${exported}`);
    }
  }
});
