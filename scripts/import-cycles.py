#!/usr/bin/env python3
# File-level import cycles of the workspace: module-level strongly connected components of
# `crate::` references per crate (tests left out). Usage: python3 scripts/import-cycles.py [checkout]
import os,re,sys
root=sys.argv[1] if len(sys.argv) > 1 else "."
total=0
for crate in sorted(os.listdir(f'{root}/crates')):
    src=f'{root}/crates/{crate}/src'
    if not os.path.isdir(src): continue
    mods={}
    for dp,_,fs in os.walk(src):
        for f in fs:
            if not f.endswith('.rs'): continue
            p=os.path.join(dp,f); rel=os.path.relpath(p,src)
            top=rel.split('/')[0].replace('.rs','')
            if top in ('lib','main'): continue
            mods.setdefault(top,[]).append(open(p).read())
    g={m:set() for m in mods}
    for m,texts in mods.items():
        for t in texts:
            t=re.sub(r'//.*','',t)
            # drop test modules roughly
            t=t.split('#[cfg(test)]')[0]
            for x in re.findall(r'crate::([a-z_0-9]+)',t):
                if x in g and x!=m: g[m].add(x)
            for x in re.findall(r'use crate::\{([^}]*)\}',t):
                for y in re.findall(r'\b([a-z_0-9]+)\b',x):
                    if y in g and y!=m: g[m].add(y)
    # tarjan
    idx={};low={};st=[];on=set();res=[];c=[0]
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in g[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: res.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in g:
        if v not in idx: sc(v)
    for r in res: print(crate, r)
    total+=len(res)
print("cycles (module-level SCCs):",total)
