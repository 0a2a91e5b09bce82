import json, subprocess, sys, os, resource, time, statistics
bins = sys.argv[1].split(',')
fss = sys.argv[2].split(',')
rounds = int(sys.argv[3])
out = open(sys.argv[4], 'a')
cfgs = [
  ('bulk0', ['-records','1000000','-size','128','-durability','manual']),
  ('bulk2', ['-records','1000000','-size','128','-durability','manual','-followers','2']),
  ('bulk2p', ['-records','1000000','-size','128','-durability','manual','-followers','2','-followers-process']),
  ('lat2', ['-rate','1000','-duration','3s','-size','128','-durability','manual','-followers','2']),
  ('lat2p', ['-rate','1000','-duration','3s','-size','128','-durability','manual','-followers','2','-followers-process']),
]
only = os.environ.get('ONLY')
if only: cfgs = [c for c in cfgs if c[0] in only.split(',')]
for r in range(rounds):
  for fs in fss:
    for name, args in cfgs:
      for b in bins:
        load = open('/proc/loadavg').read().split()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(['/tmp/bins/walbench-'+b] + args + ['-dir', fs, '-json'], capture_output=True, text=True, cwd='/tmp')
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime-ru0.ru_utime) + (ru1.ru_stime-ru0.ru_stime)
        rec = {'round': r, 'fs': fs, 'cfg': name, 'bin': b, 'load': float(load), 'cpu_s': cpu,
               'user_s': ru1.ru_utime-ru0.ru_utime, 'sys_s': ru1.ru_stime-ru0.ru_stime}
        if p.returncode != 0:
          rec['error'] = p.stderr[-500:]
        else:
          d = json.loads(p.stdout)['runs'][0]
          rec['rps'] = d['records_per_sec']; rec['records'] = d['records']; rec['seconds'] = d['seconds']
          f = d.get('followers')
          if f:
            l = f['latency_ns']
            rec.update(p50=l['p50'], p99=l['p99'], p999=l['p99_9'], allocs=f['allocs_per_record'])
        out.write(json.dumps(rec) + '\n'); out.flush()
        print(rec.get('round'), fs, name, b, rec.get('rps'), rec.get('p50'), rec.get('p99'), rec.get('allocs'), round(cpu,3), load, rec.get('error','')[:200], flush=True)
