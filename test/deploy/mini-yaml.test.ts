import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYaml, YamlSubsetError } from './support/mini-yaml.js';

test('parses the block subset our deploy files use', () => {
  const source = [
    '# comment',
    'a: 1',
    'b:',
    '  c: "x # y"   # trailing comment',
    '  d: [1, "two", three]',
    '  e: {}',
    '  f: {k: v, n: 2}',
    'list:',
    '- x',
    '- name: n',
    '  v: 2',
    '  sub:',
    '    - true',
    'text: |',
    '  line1',
    '    line2',
    'folded: >-',
    '  a',
    '  b',
    'empty:',
    "quoted: 'it''s'",
    'url: http://host:9090/x',
  ].join('\n');
  assert.deepEqual(parseYaml(source), {
    a: 1,
    b: { c: 'x # y', d: [1, 'two', 'three'], e: {}, f: { k: 'v', n: 2 } },
    list: ['x', { name: 'n', v: 2, sub: [true] }],
    text: 'line1\n  line2\n',
    folded: 'a b',
    empty: null,
    quoted: "it's",
    url: 'http://host:9090/x',
  });
});

test('refuses what it does not understand instead of guessing', () => {
  for (const bad of ['a: &anchor 1', 'a:\n  b: 1\n   c: 2', 'a: 1\na: 2', 'a: "open', '- - 1', 'a: [1, 2', '\tb: 1']) {
    assert.throws(() => parseYaml(bad), YamlSubsetError, JSON.stringify(bad));
  }
});
