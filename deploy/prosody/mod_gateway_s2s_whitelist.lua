-- mod_gateway_s2s_whitelist: xmpp-teams-gateway's domain whitelist at the server-to-server layer of the Prosody
-- (0.12) that fronts the gateway's component. Load it on the Component (its own modules_enabled) and list the
-- partner domains, exact or "*.suffix" (subdomains only), as `xmpp-teams-gateway front-server-config` prints
-- them from the gateway's policy.domains:
--
--   Component "teams.example.org"
--     modules_enabled = { "gateway_s2s_whitelist" }
--     gateway_s2s_whitelist = { "partner.example", "*.allied.example" }
--
-- (plugin_paths must name the directory holding this file.) Another domain cannot open an S2S stream to the
-- component (closed with <policy-violation/>, RFC 6120 §4.9.3.14), none of its stanzas reaches the gateway, and
-- the gateway's stanzas to it are refused. `prosodyctl reload` re-reads the list.

local st = require "util.stanza";
local jid_host = require "util.jid".host;

local exact, suffixes;
local function load_rules()
	exact, suffixes = {}, {};
	for rule in module:get_option_set("gateway_s2s_whitelist", {}) do
		rule = rule:lower();
		if rule:sub(1, 2) == "*." then
			suffixes[#suffixes + 1] = rule:sub(2); -- ".allied.example"
		else
			exact[rule] = true;
		end
	end
end
load_rules();
module:hook_global("config-reloaded", load_rules);

local function permitted(domain)
	if not domain then return false; end
	domain = domain:lower();
	if exact[domain] then return true; end
	for _, suffix in ipairs(suffixes) do
		if #domain > #suffix and domain:sub(-#suffix) == suffix then return true; end
	end
	return false;
end

local refusal = "this domain does not federate with " .. module.host;

local function refuse_stream(session, domain)
	module:log("info", "refused S2S stream from %s to %s: not in gateway_s2s_whitelist", tostring(domain), module.host);
	session:close({ condition = "policy-violation", text = refusal });
	return true;
end

-- Before authentication, on the domain the peer says it is (RFC 6120 §4.7.1 'from'): costs the stranger nothing.
module:hook("s2s-stream-features", function (event)
	local session = event.origin;
	if session.from_host and not permitted(session.from_host) then return refuse_stream(session, session.from_host); end
end, 1000);

-- After authentication, on the domain it proved (a certificate or dialback).
module:hook("s2sin-established", function (event)
	local session = event.session;
	if not permitted(session.from_host) then return refuse_stream(session, session.from_host); end
end, 1000);

-- Whatever carried it, no stanza from an unlisted domain reaches the component.
local function filter_inbound(event)
	local origin, stanza = event.origin, event.stanza;
	if (origin.type == "s2sin" or origin.type == "s2sout") and not permitted(jid_host(stanza.attr.from)) then
		if stanza.attr.type ~= "error" and stanza.attr.type ~= "result" then
			origin.send(st.error_reply(stanza, "cancel", "policy-violation", refusal));
		end
		return true;
	end
end
for _, name in ipairs({ "message", "presence", "iq" }) do
	for _, to_type in ipairs({ "bare", "full", "host" }) do
		module:hook(name .. "/" .. to_type, filter_inbound, 1000);
	end
end

-- Nor does the gateway open a stream to one.
module:hook("route/remote", function (event)
	if permitted(event.to_host) then return; end
	local stanza = event.stanza;
	if stanza.attr.type ~= "error" and stanza.attr.type ~= "result" then
		module:send(st.error_reply(stanza, "cancel", "policy-violation", "the gateway does not federate with " .. event.to_host));
	end
	return true;
end, 1000);
