# busybox nc sends a file over loopback TCP (the client keeps its stdin
# open, so that it does not shut down before the data arrived), and
# busybox httpd serves a file to busybox wget.
seq 1 20000 > data.txt
busybox nc -l -p "$1" < data.txt &
sleep 0.3
sleep 2 | busybox nc 127.0.0.1 "$1" > got.txt
wait
wc -l < got.txt
md5sum < got.txt
rm -f data.txt got.txt
mkdir -p www
echo "hello over http" > www/index.txt
busybox httpd -f -p "127.0.0.1:$2" -h www &
pid=$!
sleep 0.3
busybox wget -q -O - "http://127.0.0.1:$2/index.txt"
busybox wget -q -O - "http://127.0.0.1:$2/nope" 2>&1 | head -1
kill $pid
wait
rm -r www
echo done
