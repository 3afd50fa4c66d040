import time, sys
end = time.time() + float(sys.argv[1]); n = 0
while time.time() < end:
    n += sum(i * i for i in range(1000))
