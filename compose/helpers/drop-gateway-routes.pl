# Deletes every IPv4 route through a gateway (RTF_GATEWAY) in the network namespace it
# runs in, the default route included, with the SIOCDELRT ioctl: images carry no
# iproute2, but every Debian base has perl. `struct rtentry` is laid out for LP64
# (x86_64, aarch64): 120 bytes. Run by crates/engine/src/isolate.rs.
use strict; use Socket;
socket(my $s, AF_INET, SOCK_DGRAM, 0) or die "socket: $!";
open(my $f, '<', '/proc/net/route') or die "/proc/net/route: $!";
<$f>;
my $n = 0;
while (<$f>) {
  my ($if, $dst, $gw, $flags, undef, undef, $metric, $mask) = split;
  next unless hex($flags) & 0x2;
  my $sa = sub { pack('S n a4 x8', AF_INET, 0, pack('V', hex($_[0]))) };
  my $rt = pack('Q a16 a16 a16 S s x4 Q x8 s x6 Q Q Q S x6', 0, $sa->($dst), $sa->($gw),
    $sa->($mask), hex($flags), 0, 0, $metric ? $metric + 1 : 0, 0, 0, 0, 0);
  die "rtentry is " . length($rt) . " bytes, not 120" unless length($rt) == 120;
  ioctl($s, 0x890C, $rt) or die "deleting the route via $gw on $if: $!";
  $n++;
}
print "{\"event\":\"isolated\",\"routes_removed\":$n}\n";
