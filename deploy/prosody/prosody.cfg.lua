-- Prosody 0.12 for the compose cluster (deploy/compose.yaml). The gateway nodes connect to the component
-- listener on 5347 (backend network only); with xmpp.links: one, one node holds the connection at a time.
-- Certificates for xmpp.example.org are read from /etc/prosody/certs (secrets/prosody-certs).

-- The component secret comes from the Docker secret file the gateways read too.
local function secret(name)
  local f = assert(io.open("/run/secrets/" .. name, "r"), "missing Docker secret " .. name)
  local value = f:read("*l")
  f:close()
  return value
end

admins = { }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "dialback"; "disco"; "carbons"; "pep"; "private"; "blocklist";
  "vcard4"; "vcard_legacy"; "version"; "uptime"; "time"; "ping"; "mam"; "csi_simple"; "smacks";
}
-- Federation with partner servers (docs/operations.md "Federation with partner servers"): certificates required
-- (dialback only for the domains listed), stanzas a broken S2S link lost are sent again (XEP-0198), and the
-- gateway's S2S whitelist module, mounted from deploy/prosody/ by compose.yaml.
plugin_paths = { "/etc/prosody/xtg-modules" }
s2s_insecure_domains = { }
smacks_s2s_resend = true
log = { { levels = { min = "info" }, to = "console" } }
certificates = "certs"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = true
authentication = "internal_hashed"
storage = "internal"
data_path = "/var/lib/prosody"

component_ports = { 5347 }
component_interfaces = { "0.0.0.0" }   -- reachable from the gateway containers; do not publish this port

VirtualHost "xmpp.example.org"         -- yours: the XMPP domain of your users

Component "teams.example.org"          -- yours: xmpp.domain in gateway/gw-*.yaml
  component_secret = secret("xtg-component")
  -- yours: `xmpp-teams-gateway front-server-config --server prosody` prints it from the gateway's whitelist
  modules_enabled = { "gateway_s2s_whitelist" }
  gateway_s2s_whitelist = { }          -- e.g. { "partner.example" }, as in policy.domains
