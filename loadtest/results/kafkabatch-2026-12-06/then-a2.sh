#!/bin/bash
while [ ! -f /tmp/s59/chain.done ]; do sleep 5; done
cd /work/main && OUT=/tmp/s59 bash /tmp/s59/pgrun.sh a2 3dc184c > /tmp/s59/a2.run.log 2>&1
echo a2-done > /tmp/s59/a2.chain.done
