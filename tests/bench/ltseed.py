"""A python3-libtorrent seeder for `make bench` (run with /usr/bin/python3,
the interpreter Debian's python3-libtorrent is built for).

  ltseed.py IP PORT TORRENT SAVE_DIR [TORRENT SAVE_DIR]...

Seeds each TORRENT from its SAVE_DIR, listening on IP:PORT only, with
trackers, DHT, LSD, UPnP, NAT-PMP and uTP off: it is reached by
`p2pfs mount --no-trackers --peer IP:PORT` alone. Prints "ready" once
libtorrent's own check of every torrent is done and all are seeding (or
"not ready" and exits 1 after 120 s), then seeds until killed.

libtorrent answers a BitTorrent handshake at once, where aria2c answers on
its 1 s tick: with it the bench can show mount -> first byte without
aria2c's floor under it."""
import sys
import time

import libtorrent as lt


def main(argv):
    ip, port = argv[1], int(argv[2])
    pairs = list(zip(argv[3::2], argv[4::2]))
    ses = lt.session({
        'listen_interfaces': '%s:%d' % (ip, port),
        'outgoing_interfaces': ip,
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
        'enable_natpmp': False, 'dht_bootstrap_nodes': '',
        'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'alert_mask': 0,
    })
    handles = []
    for tor, save in pairs:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(tor)
        atp.save_path = save
        atp.flags = lt.torrent_flags.paused  # no announce before the
        h = ses.add_torrent(atp)             # trackers are gone
        h.replace_trackers([])
        h.unset_flags(lt.torrent_flags.auto_managed)
        h.resume()
        handles.append(h)
    end = time.time() + 120
    while not all(h.status().is_seeding for h in handles):
        if time.time() > end:
            print('not ready', flush=True)
            return 1
        time.sleep(0.1)
    print('ready', flush=True)
    while True:
        time.sleep(3600)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
