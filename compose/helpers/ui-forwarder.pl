# A TCP forwarder run in a PACS's network namespace for `lab up`: it listens on the
# PACS's lab address, accepts only the host (the bridge's own address) and connects each
# client to Orthanc's REST port on the PACS's loopback. Arguments: listen address,
# allowed peer, upstream. Run by crates/engine/src/lifecycle.rs (`expose`).
use strict; use IO::Socket::INET; use IO::Select;
my ($listen, $allow, $up) = @ARGV;
$SIG{CHLD} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };
my $srv = IO::Socket::INET->new(LocalAddr => $listen, Listen => 16, ReuseAddr => 1)
  or die "listening on $listen: $!";
$| = 1;
print "{\"event\":\"listening\",\"listen\":\"$listen\",\"allow\":\"$allow\"}\n";
while (1) {
  my $c = $srv->accept or next;
  if ($c->peerhost ne $allow) { close $c; next; }
  if (fork) { close $c; next; }
  my $u = IO::Socket::INET->new(PeerAddr => $up) or exit 1;
  my $sel = IO::Select->new($c, $u);
  while (my @ready = $sel->can_read(600)) {
    for my $h (@ready) {
      my $o = $h == $c ? $u : $c;
      my $n = sysread($h, my $buf, 65536);
      exit 0 unless $n;
      defined(syswrite($o, $buf)) or exit 0;
    }
  }
  exit 0;
}
