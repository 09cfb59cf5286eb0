/**
 * Teams refuses a user without an active Teams licence: 403 Forbidden "Failed to get license information for the
 * user. Ensure user has a valid Office365 license assigned to them." (as Graph answers it, e.g.
 * https://github.com/OfficeDev/microsoft-teams-apps-requestateam/issues/355; every Teams user needs a licence,
 * https://learn.microsoft.com/en-us/microsoftteams/user-access). The emulator applies it to the chat and presence
 * calls the gateway makes: creating a chat (every member), reading or writing a chat as the signed-in user, and
 * changing a user's presence.
 */
import type { Directory } from './directory.js';
import { GraphFault } from './errors.js';

export function requireTeamsLicence(directory: Directory, userId: string): void {
  if (directory.licenceActive(userId)) return;
  throw new GraphFault(403, 'Forbidden', 'Failed to get license information for the user. Ensure user has a valid Office365 license assigned to them.');
}
