import json, sys, statistics
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
g = defaultdict(list)
for r in rows:
  if 'error' in r: continue
  g[(r['fs'], r['cfg'], r['bin'])].append(r)
def med(xs): return statistics.median(xs) if xs else float('nan')
for k in sorted(g):
  rs = g[k]
  s = f"{k[0]:9} {k[1]:6} {k[2]:5} n={len(rs)} load={med([r['load'] for r in rs]):.2f}"
  if k[1].startswith('bulk'):
    s += f" rps={med([r['rps'] for r in rs])/1e6:.2f}M [{min(r['rps'] for r in rs)/1e6:.2f}-{max(r['rps'] for r in rs)/1e6:.2f}] cpu={med([r['cpu_s'] for r in rs]):.3f}s user={med([r['user_s'] for r in rs]):.3f} sys={med([r['sys_s'] for r in rs]):.3f}"
  else:
    s += f" p50={med([r['p50'] for r in rs])/1e3:.1f}us p99={med([r['p99'] for r in rs])/1e3:.1f}us p99.9={med([r['p999'] for r in rs])/1e3:.1f}us cpu={med([r['cpu_s'] for r in rs]):.3f}s"
  if 'allocs' in rs[0]:
    s += f" allocs={med([r['allocs'] for r in rs]):.3f}"
  print(s)
# ratios per round
print()
for fs in sorted(set(r['fs'] for r in rows)):
  for b in sorted(set(r['bin'] for r in rows)):
    for cfg in ('bulk2','bulk2p'):
      rat = []
      for rnd in sorted(set(r['round'] for r in rows)):
        a = [r for r in rows if r['fs']==fs and r['bin']==b and r['round']==rnd and r['cfg']=='bulk0' and 'rps' in r]
        c = [r for r in rows if r['fs']==fs and r['bin']==b and r['round']==rnd and r['cfg']==cfg and 'rps' in r]
        if a and c: rat.append(c[0]['rps']/a[0]['rps'])
      if rat: print(f"{fs:9} {b:5} {cfg:6} ratio per round {[round(x,2) for x in rat]} median {statistics.median(rat):.2f}")
