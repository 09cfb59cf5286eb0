/** Assertions the Graph emulator's conformance tests share: what a call through the real clients rejects with. */
import assert from 'node:assert/strict';
import { GraphError } from '@microsoft/microsoft-graph-client';

/** The Error `p` rejects with (fails when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error, 'rejected with an Error');
    return err as Error & Record<string, unknown>;
  }
  assert.fail('expected a rejection');
}

/** The GraphError a Graph client call rejects with: Graph's status, code and message. */
export async function graphError(p: Promise<unknown>): Promise<GraphError> {
  const err = await rejection(p);
  assert.ok(err instanceof GraphError, `a GraphError, got ${err.name}: ${err.message}`);
  return err;
}
