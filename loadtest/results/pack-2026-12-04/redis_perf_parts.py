"""Where a Redis server's CPU goes, by part: the Lua scripts' own work, the commands they call,
the EVALSHA's KEYS/ARGV tables, the AOF. From perf's DWARF call graphs (the Debian binary has
symbols for Redis's functions, not for its Lua VM's static ones):

    perf record -F 299 --call-graph dwarf,16384 -p <redis pid> -o redis.data -- sleep 8
    perf script -i redis.data > redis.txt && python redis_perf_parts.py redis.txt
"""
import collections,sys
samples=[]; cur=[]
for line in open(sys.argv[1]):
    line=line.rstrip('\n')
    if not line.strip():
        if cur: samples.append(cur); cur=[]
        continue
    if line[0] in '\t ':
        parts=line.strip().split(None,1)
        sym=parts[1].split(' (')[0].split('+0x')[0] if len(parts)>1 else '?'
        cur.append(sym)
    else:
        cur=[]
if cur: samples.append(cur)
cat=collections.Counter()
for names in samples:
    if 'evalGenericCommand' in names:
        if 'scriptCall' in names:
            i=names.index('scriptCall')
            sub=names[:i]
            cmd=[n for n in sub if n.endswith('Command')]
            k='lua.redis.call:'+(cmd[-1] if cmd else ('propagate' if 'propagatePendingCommands' in sub else 'overhead'))
        elif 'lua_pcall' in names:
            k='lua.vm' + (':pushlstring' if 'lua_pushlstring' in names else '')
        else:
            k='eval.notpcall:' + ('pushlstring' if 'lua_pushlstring' in names else names[0])
    elif 'propagatePendingCommands' in names or 'feedAppendOnlyFile' in names: k='aof.feed'
    elif 'rewriteAppendOnlyFileBackground' in names: k='aof.rewrite(child)'
    elif 'processMultibulkBuffer' in names: k='parse-request'
    elif 'serverCron' in names: k='cron'
    else: k='other:'+names[0]
    cat[k]+=1
tot=sum(cat.values())
agg=collections.Counter()
for k,v in cat.items(): agg[k.split(':')[0]]+=v
for k,v in agg.most_common(): print(f"{100*v/tot:5.1f} {k}")
print('--')
for k,v in cat.most_common(40): print(f"{100*v/tot:5.1f} {k}")
print(tot)
