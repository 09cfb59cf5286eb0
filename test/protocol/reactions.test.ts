import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emojiToTeamsReaction, reactionDiff, teamsReactionToEmoji } from '../../src/protocol/reactions.js';

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
    it(`${type} <-> ${emoji}`, () => {
      assert.equal(teamsReactionToEmoji(type), emoji);
      assert.equal(emojiToTeamsReaction(emoji), type);
    });
  }
  it('matches the heart with or without the emoji variation selector', () => assert.equal(emojiToTeamsReaction('❤'), 'heart'));
  it('passes any other emoji through both ways', () => {
    assert.equal(emojiToTeamsReaction('🎉'), '🎉');
    assert.equal(teamsReactionToEmoji('🎉'), '🎉');
  });
  it('computes what to set and unset', () => {
    assert.deepEqual(reactionDiff(['like', 'sad'], ['sad', 'heart']), { set: ['heart'], unset: ['like'] });
    assert.deepEqual(reactionDiff(['like'], []), { set: [], unset: ['like'] });
  });
});
