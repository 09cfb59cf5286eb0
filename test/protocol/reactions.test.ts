import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reactionDiff, teamsReactionToEmoji } from '../../src/protocol/reactions.js';

describe('reactions', () => {
  const table: [string, string][] = [
    ['like', '👍'],
    ['heart', '❤️'],
    ['laugh', '😆'],
    ['surprised', '😮'],
    ['sad', '😢'],
    ['angry', '😡'],
  ];
  for (const [type, emoji] of table) {
    it(`${type} reads as ${emoji}`, () => assert.equal(teamsReactionToEmoji(type), emoji));
  }
  it('passes any other emoji through', () => assert.equal(teamsReactionToEmoji('🎉'), '🎉'));
  it('computes what to set and unset, always as emoji (setReaction takes a Unicode emoji)', () => {
    assert.deepEqual(reactionDiff(['like', 'sad'], ['😢', '❤️']), { set: ['❤️'], unset: ['👍'] });
    assert.deepEqual(reactionDiff(['like'], []), { set: [], unset: ['👍'] });
    assert.deepEqual(reactionDiff(['🎉'], ['🎉', '🚀']), { set: ['🚀'], unset: [] });
  });
  it('matches the heart with or without the emoji variation selector', () => assert.deepEqual(reactionDiff(['heart'], ['❤']), { set: [], unset: [] }));
});
