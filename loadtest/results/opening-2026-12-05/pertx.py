import re, json, datetime, bisect, sys
log, watch = sys.argv[1], sys.argv[2]; step = int(sys.argv[3]) if len(sys.argv) > 3 else 50000
st=[]
for line in open(log):
    if 'last 2s:' not in line: continue
    ts=datetime.datetime.strptime(line[1:24],'%Y-%m-%d %H:%M:%S,%f').replace(tzinfo=datetime.timezone.utc).timestamp()
    d=dict((k,int(v)) for k,v in re.findall(r'([\w:]+)=(\d+)', line.split('last 2s:')[1]))
    st.append((ts, d.get('APPROVE',0)+d.get('DECLINE',0)+d.get('REVIEW',0)))
w=[json.loads(l) for l in open(watch)]
w=[r for r in w if r['worker']]
ts=[r['t'] for r in w]
def at(t):
    i=bisect.bisect_left(ts,t); i=min(max(i,1),len(w)-1)
    a,b=w[i-1],w[i]; f=(t-a['t'])/(b['t']-a['t'])
    g=lambda r:(r['worker']['u']+r['worker']['s'], r['redis']['u']+r['redis']['s'])
    return [x+(y-x)*f for x,y in zip(g(a),g(b))]
cum=0; acc=[0,0,0]
for i in range(1,len(st)):
    a,b=at(st[i-1][0]),at(st[i][0]); n=st[i][1]
    cum+=n; acc[0]+=n; acc[1]+=b[0]-a[0]; acc[2]+=b[1]-a[1]
    if acc[0]>=step:
        print(f"{cum:8d} tx: worker {acc[1]*1e4/acc[0]:5.1f} us/tx  redis {acc[2]*1e4/acc[0]:5.1f}")
        acc=[0,0,0]
