# usage: rdelta.py A.redis-max.txt B.redis-max.txt TX_A TX_B: Redis CPU and commandstats per transaction
# between the first and last snapshot of each file (run.sh with RESETSTAT=no appends cumulative ones).
import sys,re
def snaps(path):
    out=[];cur=None
    for line in open(path):
        if line.startswith('utime'):
            u,s=line.split()[1],line.split()[3]; cur={'_cpu':(int(u)+int(s))}; out.append(cur)
        m=re.match(r'cmdstat_(\S+):calls=(\d+),usec=(\d+)',line)
        if m and cur is not None: cur[m[1]]=(int(m[2]),int(m[3]))
    return out
for path,tx in ((sys.argv[1],int(sys.argv[3])),(sys.argv[2],int(sys.argv[4]))):
    s=snaps(path); a,b=s[0],s[-1]
    print(path, 'snaps',len(s),'cpu ticks/tx*1e6/100 ->us/tx', (b['_cpu']-a['_cpu'])*1e4/tx)
    rows=[]
    for k in b:
        if k=='_cpu':continue
        c0,u0=a.get(k,(0,0)); c1,u1=b[k]
        if c1-c0: rows.append((u1-u0,k,c1-c0))
    rows.sort(reverse=True)
    for u,k,c in rows: print(f'  {k:20s} calls/tx {c/tx:7.3f}  usec/tx {u/tx:6.2f}')
