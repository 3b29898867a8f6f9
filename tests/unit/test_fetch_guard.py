"""ALLOWED_DOMAINS entries, host forms and address checks: what the crawler may reach before any connection."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest

from content_sync.errors import AddressRefused, FetchRefused
from content_sync.fetch import FetchResult
from content_sync.guard import DomainPolicy, Resolver, address_refusal, checked_addresses, parse_target


def resolver_for(*addresses: str) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def no_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should not have been resolved")


def test_a_bare_host_allows_only_its_schemes_default_port() -> None:
    policy = DomainPolicy(["agency.gov"])
    assert policy.allows("http://agency.gov/a") and policy.allows("https://agency.gov/a")
    assert policy.allows("http://agency.gov:80/") and policy.allows("https://AGENCY.gov.:443/")
    assert not policy.allows("https://agency.gov:80/") and not policy.allows("http://agency.gov:443/")
    with pytest.raises(FetchRefused, match=r"uses port 8443.*add agency\.gov:8443"):
        policy.check("https://agency.gov:8443/admin")


def test_a_host_port_entry_allows_exactly_that_port() -> None:
    policy = DomainPolicy(["127.0.0.1:8080", "[::1]:8080"])
    assert policy.check("http://127.0.0.1:8080/") == "127.0.0.1:8080"
    assert policy.check("http://[::1]:8080/x") == "[::1]:8080"
    for url in ("http://127.0.0.1/", "http://127.0.0.1:8081/", "https://127.0.0.1/", "http://[::1]:9090/"):
        assert not policy.allows(url), url


def test_hosts_that_only_look_listed_are_refused() -> None:
    policy = DomainPolicy(["agency.gov"])
    for url in ("http://agency.gov.evil.example/", "http://evilagency.gov/", "http://agency.gov\\@evil.example/"):
        with pytest.raises(FetchRefused, match="outside ALLOWED_DOMAINS"):
            policy.check(url)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0x7f000001", "127.1", "0x7f.0.0.1", "10.0.0.01x.1"])
def test_numbers_that_are_not_dotted_quads_are_refused(host: str) -> None:
    with pytest.raises(FetchRefused, match="not a dotted-quad IPv4 address"):
        parse_target(f"http://{host}/")


@pytest.mark.parametrize("url", ["http://0177.0.0.1/", "ftp://agency.gov/", "http:///x", "http://[fe80::1%25eth0]/"])
def test_other_unfetchable_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        parse_target(url)


def test_canonical_hosts_parse() -> None:
    target = parse_target("HTTPS://Agency.GOV./a?b#c")
    assert (target.scheme, target.host, target.port, target.literal) == ("https", "agency.gov", 443, None)
    assert target.host_header == "agency.gov" and target.origin == "https://agency.gov"
    assert parse_target("http://127.0.0.1:8080/").literal == ipaddress.ip_address("127.0.0.1")
    assert parse_target("http://[::1]:8080/").host_header == "[::1]:8080"
    assert parse_target("http://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback address (127.0.0.1) written as IPv6"),
        ("::ffff:169.254.169.254", "metadata"),
        ("2002:7f00:1::", "loopback address (127.0.0.1) written as IPv6"),
        ("192.0.2.1", "private"),
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::ffff:10.0.0.5"])
def test_a_listed_name_resolving_to_a_forbidden_address_is_refused(address: str) -> None:
    policy = DomainPolicy(["agency.gov"])
    target, _ = policy.target("https://agency.gov/")
    shown = re.escape(str(ipaddress.ip_address(address)))
    with pytest.raises(AddressRefused, match=rf"agency\.gov resolves to {shown},.*ALLOWED_DOMAINS") as caught:
        checked_addresses(target, policy, resolver_for(address))
    assert isinstance(caught.value, FetchRefused)


def test_one_bad_address_among_good_ones_refuses_the_name() -> None:
    policy = DomainPolicy(["agency.gov"])
    target, _ = policy.target("https://agency.gov/")
    with pytest.raises(AddressRefused, match="10.1.2.3"):
        checked_addresses(target, policy, resolver_for("93.184.216.34", "10.1.2.3"))
    good = checked_addresses(target, policy, resolver_for("93.184.216.34", "2606:4700::1111"))
    assert [str(a) for a in good] == ["93.184.216.34", "2606:4700::1111"]


def test_naming_the_address_explicitly_allows_it() -> None:
    policy = DomainPolicy(["127.0.0.1:8080", "[::1]:8080", "intranet.agency:8080", "10.0.0.5:8080"])
    literal, _ = policy.target("http://127.0.0.1:8080/")
    assert checked_addresses(literal, policy, no_resolver) == [ipaddress.ip_address("127.0.0.1")]
    v6, _ = policy.target("http://[::1]:8080/")
    assert checked_addresses(v6, policy, no_resolver) == [ipaddress.ip_address("::1")]
    name, _ = policy.target("http://intranet.agency:8080/")
    assert checked_addresses(name, policy, resolver_for("10.0.0.5")) == [ipaddress.ip_address("10.0.0.5")]
    with pytest.raises(AddressRefused):  # listed for port 8080, not for another port
        other = DomainPolicy(["intranet.agency:9090", "10.0.0.5:8080"])
        checked_addresses(other.target("http://intranet.agency:9090/")[0], other, resolver_for("10.0.0.5"))


def test_a_mapped_ipv6_literal_is_fetchable_only_when_that_literal_is_listed() -> None:
    assert not DomainPolicy(["127.0.0.1:8080"]).allows("http://[::ffff:127.0.0.1]:8080/")
    listed = DomainPolicy(["[::ffff:127.0.0.1]:8080"])
    target, _ = listed.target("http://[::ffff:127.0.0.1]:8080/")
    assert checked_addresses(target, listed, no_resolver) == [ipaddress.ip_address("::ffff:127.0.0.1")]


def test_a_name_that_does_not_resolve_raises_oserror() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    policy = DomainPolicy(["agency.gov"])
    with pytest.raises(OSError):
        checked_addresses(policy.target("http://agency.gov/")[0], policy, fail)
    with pytest.raises(OSError, match="no addresses"):
        checked_addresses(policy.target("http://agency.gov/")[0], policy, resolver_for())


def test_fetch_result_defaults() -> None:
    result = FetchResult("http://agency.gov/a", 404, skip_reason="HTTP 404: the page is gone", outcome="withdrawn")
    assert result.final_url == "http://agency.gov/a" and result.gone and result.withdrawn and not result.transient
    assert FetchResult("http://agency.gov/b", 200).outcome == "ok"
