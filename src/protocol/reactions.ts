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

export function teamsReactionToEmoji(reactionType: string): string {
  return TEAMS_REACTIONS[reactionType] ?? reactionType;
}

/** One reaction whatever its spelling: a classic name or its emoji, with or without the emoji variation selector. */
function reactionKey(r: string): string {
  return teamsReactionToEmoji(r).replace(/\uFE0F/gu, '');
}

/**
 * What to set and unset so that `current` (as Graph reads them: classic names or emoji) becomes `wanted` (XEP-0444
 * emoji). Both lists come back as emoji: setReaction and unsetReaction take "a Unicode emoji"
 * (https://learn.microsoft.com/en-us/graph/api/chatmessage-setreaction); the names are only what Graph returns
 * when reading a classic reaction.
 */
export function reactionDiff(current: readonly string[], wanted: readonly string[]): { set: string[]; unset: string[] } {
  const c = new Map(current.map((x) => [reactionKey(x), teamsReactionToEmoji(x)]));
  const w = new Map(wanted.map((x) => [reactionKey(x), teamsReactionToEmoji(x)]));
  return { set: [...w].filter(([k]) => !c.has(k)).map(([, e]) => e), unset: [...c].filter(([k]) => !w.has(k)).map(([, e]) => e) };
}
