-- wrk script of the yunwei benchmark (bench/src/run.rs). Configured through the environment:
--   BENCH_MODE   get    : GET a random line of BENCH_LIST (a path)
--                create : POST /api/v1/tickets with a generated Chinese incident or request;
--                         BENCH_LIST lines are "org_id requester_id" (customer users)
--   BENCH_LIST   file, one item a line
--   BENCH_TOKEN  API token (sent as "Authorization: Bearer ...")
-- Prints one line "BENCH_JSON {...}" with counts and latency percentiles (microseconds).
local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

ok2xx = 0   -- per-thread globals, summed in done()
bad4 = 0
bad5 = 0
bad_other = 0

local mode, items
local seq = 0

local systems = { "财务系统", "OA办公系统", "邮件系统", "VPN", "ERP系统", "人事管理系统", "HIS系统",
   "门户网站", "视频会议系统", "考勤系统", "核心数据库", "文件服务器", "无线网络", "核心交换机",
   "防火墙", "打印机", "复印机", "台式电脑", "笔记本电脑", "IP电话", "云桌面", "存储阵列" }
local symptoms = { "无法登录", "响应缓慢", "宕机", "报错", "页面打不开", "频繁断线", "卡纸",
   "无法打印", "蓝屏", "磁盘空间不足", "告警", "账号被锁定", "网络不通", "数据不同步" }
local depts = { "财务部", "人力资源部", "办公室", "市场部", "信息中心", "审计部", "采购部",
   "行政部", "客服中心", "研发部", "后勤保障部" }
local who = { "王老师", "李经理", "张主任", "刘科长", "陈工程师", "杨同事", "赵经理", "周主任" }
local when = { "今天上午9点20分", "今天早上8点半", "刚才", "昨天下午3点", "今天中午12点左右" }
local impact = { "影响全部门约30人正常办公", "影响月底结账", "窗口无法办理业务", "目前仅本人受影响",
   "影响领导下午的会议", "多个部门同时出现" }
local tried = { "已重启电脑", "已清除浏览器缓存", "已更换网线", "已重新插拔电源", "已重启设备" }
local urgency = { "high", "medium", "medium", "low" }

local function pick(t) return t[math.random(#t)] end

function init(args)
   mode = os.getenv("BENCH_MODE") or "get"
   items = {}
   for line in io.lines(os.getenv("BENCH_LIST")) do
      if #line > 0 then items[#items + 1] = line end
   end
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
   wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
   -- BENCH_COOKIE: a session cookie for the HTML pages (the CMDB benchmark's CI page)
   if os.getenv("BENCH_COOKIE") then wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE") end
   if mode == "create" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
   else
      wrk.method = "GET"
   end
end

local function create_body()
   seq = seq + 1
   local org, req = items[math.random(#items)]:match("^(%S+)%s+(%S+)$")
   local d, s, y = pick(depts), pick(systems), pick(symptoms)
   local kind, subject
   if math.random(10) <= 7 then
      kind, subject = "incident", d .. s .. y
   else
      kind, subject = "request", "申请开通" .. s .. "账号"
      y = "需要开通权限"
   end
   local desc = d .. pick(who) .. "来电反映：" .. pick(when) .. "起，" .. s .. y .. "，" .. pick(impact) ..
      "。" .. pick(tried) .. "，问题依旧。请尽快处理。（压测 " .. (tid or 0) .. "-" .. seq ..
      "）联系电话：139" .. string.format("%08d", math.random(0, 99999999)) .. "。"
   return string.format('{"kind":"%s","subject":"%s","description":"%s","org_id":"%s",' ..
      '"requester_id":"%s","channel":"phone","urgency":"%s"}', kind, subject, desc, org, req, pick(urgency))
end

function request()
   if mode == "create" then
      return wrk.format(nil, "/api/v1/tickets", nil, create_body())
   end
   return wrk.format(nil, items[math.random(#items)])
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok2xx = ok2xx + 1
   elseif status >= 400 and status < 500 then
      bad4 = bad4 + 1
   elseif status >= 500 then
      bad5 = bad5 + 1
   else
      bad_other = bad_other + 1
   end
end

function done(summary, latency, requests)
   local ok, b4, b5, bo = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      ok = ok + (t:get("ok2xx") or 0)
      b4 = b4 + (t:get("bad4") or 0)
      b5 = b5 + (t:get("bad5") or 0)
      bo = bo + (t:get("bad_other") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"ok_2xx":%d,"bad4":%d,"bad5":%d,"bad_other":%d,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,' ..
      '"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f}\n',
      summary.requests, summary.duration, ok, b4, b5, bo,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
