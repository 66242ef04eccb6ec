import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { strongEtag } from '../../src/http/etag.js';
import { PreparedTexts } from '../../src/deliver/http/prepared-texts.js';
import { headerBlock } from '../../src/deliver/http/media-response.js';

const CORS = ['access-control-allow-origin', '*'];

describe('prepared texts', () => {
  it('a header block is the bytes of one header line per header, less the last CRLF uWS adds', () => {
    const block = headerBlock(['content-type', 'text/plain', 'etag', '"x"', 'vary', 'Origin']);
    assert.equal(`${block.key.toString()}: ${block.value.toString()}\r\n`, 'content-type: text/plain\r\netag: "x"\r\nvary: Origin\r\n');
  });

  it('prepares a text once (ETag, UTF-8 body, headers), again under other headers, bounded, oldest out first', () => {
    const texts = new PreparedTexts(2, CORS);
    const a = texts.get('#EXTM3U\né\n', 'application/vnd.apple.mpegurl', 'public, max-age=1');
    assert.equal(a.etag, strongEtag('#EXTM3U\né\n'));
    assert.deepEqual(a.body, Buffer.from('#EXTM3U\né\n', 'utf8'));
    assert.equal(
      `${a.headers.key}: ${a.headers.value}`,
      `content-type: application/vnd.apple.mpegurl\r\ncache-control: public, max-age=1\r\netag: ${a.etag}\r\naccess-control-allow-origin: *`,
    );
    assert.equal(texts.get('#EXTM3U\né\n', 'application/vnd.apple.mpegurl', 'public, max-age=1'), a, 'the same entry');
    const ended = texts.get('#EXTM3U\né\n', 'application/vnd.apple.mpegurl', 'public, max-age=60');
    assert.match(ended.headers.value.toString(), /cache-control: public, max-age=60\r\n/);
    texts.get('b', 'text/plain', 'no-store');
    texts.get('c', 'text/plain', 'no-store');
    assert.equal(texts.size, 2);
    assert.notEqual(texts.get('#EXTM3U\né\n', 'application/vnd.apple.mpegurl', 'public, max-age=60'), a, 'the oldest went first');
  });
});
