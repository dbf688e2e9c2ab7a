//! Client addresses as rate-limit subjects. An IPv4 address is one budget. An IPv6 client
//! is routinely given a whole /64 (SLAAC, privacy addresses: a phone, a home, a cloud VM)
//! and can send every request from a fresh address in it, so keying on the full address
//! would give one client 2^64 budgets: IPv6 clients are counted by their /64.

use std::net::{IpAddr, Ipv6Addr};

/// The IPv6 prefix one client is taken to hold: /64 is the smallest network a subscriber
/// is assigned, and the one SLAAC and privacy extensions (RFC 8981) pick fresh addresses
/// in. A client given a /56 or /48 still spans 256 or 65,536 budgets; keying on those would
/// make unrelated customers of one provider share a budget, which is worse for an auth
/// service's users than a bounded number of budgets for one attacker.
pub const IPV6_CLIENT_PREFIX_BITS: u32 = 64;

/// The rate-limit subject of the client address Cloudflare reports (`CF-Connecting-IP`):
///
/// - an IPv4 address is itself;
/// - an IPv4-mapped IPv6 address (`::ffff:198.51.100.7`, how dual-stack sockets report an
///   IPv4 peer) is that IPv4 address: one client, one budget, however it is written;
/// - any other IPv6 address is its /64, in one spelling whichever way the address was
///   written (`2001:db8:1:2::/64`);
/// - anything else is kept as given (Cloudflare never sends it), and no address at all is
///   `unknown`.
pub fn limit_subject(client_ip: Option<&str>) -> String {
    let Some(raw) = client_ip else {
        return "unknown".to_owned();
    };
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("{}/{IPV6_CLIENT_PREFIX_BITS}", client_prefix(v6)),
        },
        Err(_) => raw.to_owned(),
    }
}

/// The address with every bit after the client's prefix cleared.
fn client_prefix(address: Ipv6Addr) -> Ipv6Addr {
    let host_bits = u128::MAX >> IPV6_CLIENT_PREFIX_BITS;
    Ipv6Addr::from(u128::from(address) & !host_bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::feature::Ctx;
    use crate::kernel::testing::TestWorld;

    #[test]
    fn client_addresses_become_their_limit_subjects() {
        let table: &[(Option<&str>, &str, &str)] = &[
            (None, "unknown", "no address at all"),
            (Some("198.51.100.7"), "198.51.100.7", "IPv4 is itself"),
            (Some("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64", "IPv6 is its /64"),
            (
                Some("2001:db8:1:2:ffff:ffff:ffff:ffff"),
                "2001:db8:1:2::/64",
                "the last address of the /64",
            ),
            (
                Some("2001:db8:1:2::"),
                "2001:db8:1:2::/64",
                "the first address of the /64",
            ),
            (
                Some("2001:0DB8:0001:0002:0000:0000:0000:0001"),
                "2001:db8:1:2::/64",
                "uncompressed, upper case",
            ),
            (
                Some("2001:db8:1:3::1"),
                "2001:db8:1:3::/64",
                "the next /64 is another client",
            ),
            (Some("2001:db8::1"), "2001:db8::/64", "compressed inside the prefix"),
            (Some("::1"), "::/64", "loopback"),
            (
                Some("::ffff:198.51.100.7"),
                "198.51.100.7",
                "IPv4-mapped is the IPv4 address",
            ),
            (Some("::FFFF:c633:6407"), "198.51.100.7", "IPv4-mapped, written in hex"),
            (
                Some("::198.51.100.7"),
                "::/64",
                "IPv4-compatible (deprecated) is plain IPv6",
            ),
            (
                Some("fe80::1%eth0"),
                "fe80::1%eth0",
                "a zone is not an address Cloudflare sends",
            ),
            (Some("[2001:db8::1]"), "[2001:db8::1]", "brackets: garbage, kept"),
            (
                Some("198.51.100.7:443"),
                "198.51.100.7:443",
                "with a port: garbage, kept",
            ),
            (Some("010.1.1.1"), "010.1.1.1", "leading zeros: garbage, kept"),
            (Some("not an address"), "not an address", "garbage is kept as given"),
            (Some(""), "", "empty is kept as given"),
        ];
        for (input, subject, why) in table {
            assert_eq!(limit_subject(*input), *subject, "{input:?}: {why}");
        }
    }

    #[test]
    fn a_request_is_limited_by_its_subject_and_keeps_its_address() {
        let world = TestWorld::new(&[]);
        let services = world.services();
        let ctx = Ctx::new(
            &world.state,
            &services,
            &world.events,
            "test-request",
            Some("2001:db8:1:2::7"),
        );
        assert_eq!(ctx.ip(), "2001:db8:1:2::/64");
        assert_eq!(ctx.client_ip, Some("2001:db8:1:2::7"), "what a session records");
    }
}
