import { describe, expect, it } from 'vitest';
import { renderStatusPage } from '../../src/http/status-page.js';
import { ResultStore } from '../../src/runner/store.js';
import { result, testPlan } from '../report/helpers.js';

/** Issue 16: the status page shows the timing of Duo Chat's streamed answer. */
describe('the status page and duo_chat', () => {
  it('shows the stream start (first_chunk) and the answer (complete), each with its time, and the note', async () => {
    const store = new ResultStore();
    const at = Date.parse('2026-05-01T10:00:00Z');
    const note = '/help answered over the cable: stream started 0.04 s after the mutation, answer complete 1.27 s after (512 characters; no model call)';
    store.record(result('lab', 'duo_chat', { at, notes: [note], phases: { dns: 0.001, connect: 0.01, tls: 0.03, upgrade: 0.02, welcome: 0.01, subscribe: 0.015, api: 0.12, first_chunk: 0.04, complete: 1.23 } }));
    const page = renderStatusPage(await testPlan(), store, new Date(at + 5000));
    const row = /<tbody id="lab-duo_chat"[\s\S]*?<\/tbody>/.exec(page)?.[0] ?? '';
    expect(row, 'the duo_chat row').not.toBe('');
    for (const phase of ['subscribe', 'first_chunk', 'complete']) expect(row).toMatch(new RegExp(`</i>${phase} \\d`));
    expect(row).toContain('stream started 0.04 s after the mutation, answer complete 1.27 s after');
  });
});
