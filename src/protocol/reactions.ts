/**
 * Reactions between Teams (chatMessageReaction.reactionType: the six classic names, or, for newer reactions, the
 * emoji itself — https://learn.microsoft.com/en-us/graph/api/resources/chatmessagereaction) and XEP-0444 (any
 * emoji). Pure table.
 */

/** The classic Teams reaction names and the emoji Teams shows for them. */
export const TEAMS_REACTIONS: Readonly<Record<string, string>> = {
  like: '👍',
  heart: '❤️',
  laugh: '😆',
  surprised: '😮',
  sad: '😢',
  angry: '😡',
};

const BY_EMOJI = new Map<string, string>(Object.entries(TEAMS_REACTIONS).map(([name, emoji]) => [emoji.replace(/\uFE0F/gu, ''), name]));

export function teamsReactionToEmoji(reactionType: string): string {
  return TEAMS_REACTIONS[reactionType] ?? reactionType;
}

/** The reactionType to send to Graph for an XEP-0444 emoji: a classic name when there is one, else the emoji. */
export function emojiToTeamsReaction(emoji: string): string {
  return BY_EMOJI.get(emoji.replace(/\uFE0F/gu, '')) ?? emoji;
}

/** What to set and unset so that `current` becomes `wanted` (both as Teams reaction types). */
export function reactionDiff(current: readonly string[], wanted: readonly string[]): { set: string[]; unset: string[] } {
  const c = new Set(current);
  const w = new Set(wanted);
  return { set: [...w].filter((x) => !c.has(x)), unset: [...c].filter((x) => !w.has(x)) };
}
