# lt_dht_swarm.py — python3-libtorrent sessions that meet only through their
# DHT, on loopback, for the DHT tests of p2pfs (test_dht_mount.sh,
# test_dht_seed.sh). One JSON argument:
#   {"secs": 120,
#    "nodes": [{"role": "router", "ip": "127.0.0.51", "port": 7000},
#              {"role": "seed", "ip": ..., "port": ..., "torrents": [PATH..],
#               "save": DIR},
#              {"role": "leech", "ip": ..., "port": ..., "torrents": [PATH],
#               "save": DIR},
#              {"role": "leech", ..., "magnets": [URI], "save": DIR}],
#    "boot": "127.0.0.51:7000",        every node's only DHT bootstrap
#                                      (a node's own "boot" overrides it)
#    "watch": [HEX..],                 the router looks these up until a peer
#    "dht_block_ratelimit": N}         libtorrent's DHT blocks an address
#                                      sending more than N datagrams a second
#                                      (default 5) for 5 minutes
# Prints "router: HEX has peers A,B" once each watched info-hash is seen in
# the DHT (a router's lookup asks the other nodes, not itself: give two
# routers, each the other's bootstrap), "leech: HEX done after S s at IP"
# when the leecher on IP has it all (an IPv6 "ip" is fine: "fd50::2"; its
# "boot" is then "[fd50::1]:PORT"; "listen" and "outgoing" override the
# listen_interfaces and outgoing_interfaces made of ip and port, e.g. for
# a node on both families), "leech: HEX peer IP:PORT at IP" for each
# peer it connects to, "leech: HEX metadata after S s at IP" when a leecher
# given only a magnet link has its metadata (ut_metadata, BEP 9, is on in
# every session: a magnet's metadata comes from the peers the DHT gives).
# No tracker, no LSD,
# no PEX (ut_pex is off), no UPnP: the DHT is the only way they meet. Exits
# after `secs` or when its parent goes.
import binascii, json, os, sys, time
import libtorrent as lt

cfg = json.loads(sys.argv[1])
boot = cfg['boot']


def session(n):
    s = {
        'listen_interfaces': n.get('listen', ('[%s]:%d' if ':' in n['ip'] else '%s:%d') % (n['ip'], n['port'])),
        'outgoing_interfaces': n.get('outgoing', n['ip']),
        'enable_dht': True, 'dht_bootstrap_nodes': n.get('boot', boot),
        'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
        'dht_enforce_node_id': False, 'dht_prefer_verified_node_ids': False,
        'dht_announce_interval': 3,
        'alert_mask': lt.alert.category_t.all_categories,
    }
    if 'dht_block_ratelimit' in cfg:
        s['dht_block_ratelimit'] = cfg['dht_block_ratelimit']
    # flags 0: no default plugins, so no ut_pex: peers come from the DHT;
    # but ut_metadata, which only hands out the info dict
    ses = lt.session(s, 0)
    ses.add_extension('ut_metadata')
    return ses


nodes = []
for n in cfg['nodes']:
    ses = session(n)
    hs = []
    for path in n.get('torrents', []):
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(path)
        atp.save_path = n['save']
        if n['role'] == 'seed':
            atp.flags |= lt.torrent_flags.seed_mode
        hs.append(ses.add_torrent(atp))
    for uri in n.get('magnets', []):
        atp = lt.parse_magnet_uri(uri)
        atp.save_path = n['save']
        hs.append(ses.add_torrent(atp))
    nodes.append((n, ses, hs))

parent = os.getppid()
t0 = time.time()
watch = {h: False for h in cfg.get('watch', [])}
done = set()
meta = set()
seen_peers = {}
last_ask = 0
while time.time() - t0 < cfg['secs'] and os.getppid() == parent:
    for n, ses, hs in nodes:
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_get_peers_reply_alert) and n['role'] == 'router':
                ih = str(a.info_hash)
                peers = ['%s:%d' % x for x in a.peers()]
                if ih in watch and peers and not watch[ih]:
                    watch[ih] = True
                    print('router: %s has peers %s after %.1f s' % (ih, ','.join(peers), time.time() - t0), flush=True)
        for h in hs:
            if n['role'] != 'leech':
                continue
            st = h.status()
            ih = str(h.info_hash())
            for p in h.get_peer_info():
                ep = '%s:%d' % p.ip
                if (n['ip'], ih, ep) not in seen_peers:
                    seen_peers[(n['ip'], ih, ep)] = True
                    print('leech: %s peer %s at %s' % (ih, ep, n['ip']), flush=True)
            if st.has_metadata and (n['ip'], ih) not in meta:
                meta.add((n['ip'], ih))
                print('leech: %s metadata after %.1f s at %s' % (ih, time.time() - t0, n['ip']), flush=True)
            if st.is_seeding and (n['ip'], ih) not in done:
                done.add((n['ip'], ih))
                print('leech: %s done after %.1f s at %s' % (ih, time.time() - t0, n['ip']), flush=True)
    if time.time() - last_ask > 1:
        last_ask = time.time()
        for n, ses, hs in nodes:
            if n['role'] == 'router':
                for ih, ok in watch.items():
                    if not ok:
                        ses.dht_get_peers(lt.sha1_hash(binascii.unhexlify(ih)))
    time.sleep(0.05)
print('swarm: exit after %.1f s' % (time.time() - t0), flush=True)
